"""The embedded stack's configuration: where it lives, its secrets, and the one environment
(`stack_env`) that every component, the tests and the CLI share. Commands are in stack.py.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from leftovers import read_pid
from stack_celery import CeleryMode, celery_env, worker_commands, worker_hosts
from stack_database import ADMIN_DATABASE_URL, PASSWORD, component_url
from stack_hosts import link_commands, relayed_ports

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SAMPLE_IMAGE = "prominence/busybox:latest"
# The user that jobs started from DAGs through the `prominence_default` connection belong to.
DAGS_USER = "airflow"
# The Airflow UI's login (the FAB auth manager reads <AIRFLOW_HOME>/webserver_config.py): through
# the OIDC provider when PROMINENCE_OIDC_URL and the UI's client are set, else Airflow's user table.
WEBSERVER_CONFIG = '''"""Written by scripts/stack.py at each `up`: the UI's login, from PROMINENCE_OIDC_* (docs/ui.md)."""

from prominence.auth.ui_login import fab_settings

globals().update(fab_settings())
'''
# Secrets that one component needs and the others must not hold: the token signing key is the
# api-server's alone (it mints job and workflow tokens), so no scheduler task, and so no job,
# can ever find it in its environment.
# The UI's OAuth client secret (docs/ui.md) is the api-server's too, when there is one.
# The SMTP password is the reconciler's, the one component sending notifications.
OWN_SECRETS = {
    "api-server": ("PROMINENCE_JOB_TOKEN_SECRET", "PROMINENCE_OIDC_UI_CLIENT_SECRET"),
    "reconciler": ("PROMINENCE_SMTP_PASSWORD",),
}
# Email notifications: passed through from the environment of each command, like a production S3's.
SMTP_SETTINGS = ("HOST", "PORT", "FROM", "USER", "PASSWORD", "STARTTLS")


@dataclass(frozen=True)
class Stack:
    """Where the stack lives and what it binds; env vars override what the last `up` recorded.
    `database_url` is the admin URL of a PostgreSQL stack (scripts/stack_database.py)."""

    home: Path
    port: int
    registry: str
    database_url: str | None
    s3_port: int

    @classmethod
    def load(cls) -> Stack:
        home = Path(os.environ.get("PROMINENCE_HOME") or REPO / ".prominence").resolve()
        recorded = json.loads((home / "stack.json").read_text()) if (home / "stack.json").exists() else {}

        def pick(env: str, key: str, default):
            return os.environ.get(env) or recorded.get(key) or default

        return cls(
            home=home,
            port=int(pick("PROMINENCE_PORT", "port", 8080)),
            registry=pick("PROMINENCE_REGISTRY", "registry", "127.0.0.1:5000"),
            database_url=pick("PROMINENCE_DATABASE_URL", "database_url", None),
            s3_port=int(pick("PROMINENCE_S3_PORT", "s3_port", 9000)),
        )

    def record(self) -> None:
        """Remember port/registry/database so later commands need no env vars."""
        settings = {"port": self.port, "registry": self.registry, "database_url": self.database_url, "s3_port": self.s3_port}
        (self.home / "stack.json").write_text(json.dumps(settings, indent=2) + "\n")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def s3_url(self) -> str:
        """The embedded S3 server; presigned URLs name it, so clients must reach it too."""
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/prominence/v1"

    def path(self, *parts: str) -> Path:
        return self.home.joinpath(*parts)

    def pid_file(self, component: str) -> Path:
        return self.path("run", f"{component}.pid")

    def pid(self, component: str) -> int | None:
        """The component's pid if it is running (a stale pid file gives None)."""
        return read_pid(self.pid_file(component))


def load_secrets(stack: Stack) -> dict[str, str]:
    """Generate secrets.env once, then reuse it: tokens and encrypted connections survive restarts.
    A secret added by a newer version is appended to an existing file, the others kept."""
    path = stack.path("secrets.env")
    if not path.exists():
        from cryptography.fernet import Fernet

        values = {
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "PROMINENCE_JOB_TOKEN_SECRET": secrets.token_urlsafe(32),
            "PROMINENCE_ADMIN_PASSWORD": secrets.token_urlsafe(12),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.writelines(f"{k}={v}\n" for k, v in values.items())
    values = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    added = {
        # The embedded S3 server's only credentials (secret_key: no comma, rclone's separator).
        "PROMINENCE_S3_EMBEDDED_ACCESS_KEY": "prominence-" + secrets.token_hex(8),
        "PROMINENCE_S3_EMBEDDED_SECRET_KEY": secrets.token_urlsafe(32),
        # The password of a PostgreSQL stack's own database role.
        PASSWORD: secrets.token_urlsafe(32),
    }
    missing = {k: v for k, v in added.items() if k not in values}
    if missing:
        with open(path, "a") as f:
            f.writelines(f"{k}={v}\n" for k, v in missing.items())
        values.update(missing)
    return values


def embedded_s3(stack: Stack) -> bool:
    """The stack runs its own S3 server unless PROMINENCE_S3_ENDPOINT_URL names another one
    (the components see the embedded server's URL there, and are no exception)."""
    return os.environ.get("PROMINENCE_S3_ENDPOINT_URL") in (None, "", stack.s3_url)


def s3_env(stack: Stack, values: dict[str, str]) -> dict[str, str]:
    """PROMINENCE_S3_*: the embedded server's, or those given for a production S3 (passed through)."""
    if not embedded_s3(stack):
        # A production S3: its settings are passed through from the environment of each command.
        return {k: v for k, v in os.environ.items() if k.startswith("PROMINENCE_S3_")}
    return {
        "PROMINENCE_S3_ENDPOINT_URL": stack.s3_url,
        "PROMINENCE_S3_PORT": str(stack.s3_port),
        "PROMINENCE_S3_REGION": "us-east-1",
        "PROMINENCE_S3_ACCESS_KEY": values["PROMINENCE_S3_EMBEDDED_ACCESS_KEY"],
        "PROMINENCE_S3_SECRET_KEY": values["PROMINENCE_S3_EMBEDDED_SECRET_KEY"],
        "PROMINENCE_S3_BUCKET": os.environ.get("PROMINENCE_S3_BUCKET") or "prominence",
        "PROMINENCE_S3_ADDRESSING_STYLE": "path",
    }


def worker_cpus() -> int:
    """Slots of the `prominence` pool: the cores a job's `cpus` are counted against."""
    return int(os.environ.get("PROMINENCE_WORKER_CPUS") or os.cpu_count() or 1)


def dags_connection(stack: Stack, secret: str) -> str:
    """Airflow connection `prominence_default`, which `ProminenceJobOperator` uses: the stack's own
    API with a token of the service user DAGS_USER, minted at each `up` (valid for a year)."""
    # Imported only when a connection is minted: `status` and `down` must not pay for the package.
    from prominence.auth.tokens import mint_token

    return json.dumps({"conn_type": "http", "host": stack.api_url, "password": mint_token(DAGS_USER, secret=secret)})


def stack_env(stack: Stack) -> dict[str, str]:
    """The single source of the stack's configuration: every component, the tests and the CLI use it."""
    values = load_secrets(stack)
    database = component_url(stack.database_url, values[PASSWORD]) if stack.database_url else None
    env = {
        "PROMINENCE_HOME": str(stack.home),
        "PROMINENCE_PORT": str(stack.port),
        "PROMINENCE_REGISTRY": stack.registry,
        "PROMINENCE_PUBLIC_URL": stack.api_url,
        "PROMINENCE_URL": stack.api_url,
        "PROMINENCE_JOB_TOKEN_SECRET": values["PROMINENCE_JOB_TOKEN_SECRET"],
        # The engine refuses jobs wanting more cpus than this, so it must agree with the pool.
        "PROMINENCE_WORKER_CPUS": str(worker_cpus()),
        # The runtimes pull over plain HTTP from these only; the stack's registry has no TLS.
        "PROMINENCE_INSECURE_REGISTRIES": ",".join(
            dict.fromkeys([stack.registry, *filter(None, os.environ.get("PROMINENCE_INSECURE_REGISTRIES", "").split(","))])
        ),
        "SAMPLE_IMAGE": f"{stack.registry}/{SAMPLE_IMAGE}",
        "AIRFLOW_HOME": str(stack.path("airflow")),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        # Airflow appends this folder to sys.path itself (for prominence_plugin.py and
        # airflow_local_settings.py); `prominence` is the installed package (`pip install -e .`).
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # Airflow's LocalExecutor, which lets its idle workers go after a while (scheduler/executor.py).
        "AIRFLOW__CORE__EXECUTOR": "prominence.scheduler.executor.LocalExecutor",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
        "AIRFLOW__CORE__FERNET_KEY": values["AIRFLOW__CORE__FERNET_KEY"],
        # LocalExecutor forks `parallelism` workers up front (default 32; ~5 MiB of their own each
        # idle, ~20 MiB more once used). Job tasks are bounded by the pool, so four per core leave
        # room for staging and workflow tasks (16 on 2 cores cost 38 MiB more idle, bought nothing).
        "AIRFLOW__CORE__PARALLELISM": os.environ.get("AIRFLOW__CORE__PARALLELISM") or str(max(8, 4 * worker_cpus())),
        # Tasks talk to the api-server's execution API; the default URL is wrong for any port.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{stack.url}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database or f"sqlite:///{stack.path('airflow', 'airflow.db')}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(stack.port),
        "AIRFLOW__API__BASE_URL": stack.url,
        "AIRFLOW__API__SECRET_KEY": values["AIRFLOW__API__SECRET_KEY"],
        "AIRFLOW__API_AUTH__JWT_SECRET": values["AIRFLOW__API_AUTH__JWT_SECRET"],
        # Latency: one 3-task run ~5 s -> ~1.5 s (the idle stack rests it: scheduler/idle.py).
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.1",
        # A task supervisor notices its task's exit only at its next heartbeat check (default 5 s):
        # every task held its worker 5 s longer, and a deleted job's container was killed later.
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
        "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "2",
        # Workflows are generated DAG files in a bundle of their own (docs/architecture.md); they never
        # change, so files are re-parsed rarely while new ones are seen within the refresh interval.
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(
            [
                {"name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {}},
                {
                    "name": "prominence-workflows",
                    "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                    "kwargs": {"path": str(stack.path("workflows")), "refresh_interval": 1},
                },
            ]
        ),
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
        **RECOVERY_SETTINGS,
    }
    env.update(s3_env(stack, values))
    env.update(
        {
            f"PROMINENCE_SMTP_{k}": os.environ[f"PROMINENCE_SMTP_{k}"]
            for k in SMTP_SETTINGS
            if os.environ.get(f"PROMINENCE_SMTP_{k}")
        }
    )
    env.update(celery_env(CeleryMode.load(stack.home), worker_cpus(), database))
    env["AIRFLOW_CONN_PROMINENCE_DEFAULT"] = dags_connection(stack, values["PROMINENCE_JOB_TOKEN_SECRET"])
    return env


# How fast a lost process is noticed and its work taken over (docs/reliability.md says why each).
RECOVERY_SETTINGS = {
    # A scheduler that has not heartbeat (every 5 s) for 15 s is dead: its task instances are
    # orphans, which the new scheduler resets (LocalExecutor cannot adopt them) at its next check.
    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "15",
    "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "5",
    # A task instance whose supervisor has not heartbeat for 60 s is failed (and retried if its
    # job allows); checked every 5 s. Long enough for an api-server restart on a loaded machine
    # (heartbeats go through it; 40 s was not).
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
    # A task supervisor heartbeats every second (min_heartbeat_interval above) and, by default,
    # killed its task after 3 failures: 3 s without the api-server. 60 failures match the timeout.
    "AIRFLOW__WORKERS__MAX_FAILED_HEARTBEATS": "60",
    # Tasks keep retrying the api-server for about 3 minutes (20 tries, pauses doubling from 1 s
    # to at most 10 s), so a task survives an api-server that restarts or starts slowly on a
    # loaded machine, and carries on within 10 s of its return (the default 90 s cap made tasks
    # wait up to a minute and a half after an api-server restart).
    "AIRFLOW__WORKERS__EXECUTION_API_RETRIES": "20",
    "AIRFLOW__WORKERS__EXECUTION_API_RETRY_WAIT_MAX": "10",
    # A triggerer silent for 15 s (heartbeat every 5 s) is dead: another takes over its triggers.
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "15",
}


def component_envs(env: dict[str, str]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """`env` split into what every component inherits and the OWN_SECRETS of each component; the
    admin database URL a caller of `up` may hold is for `up` alone (scripts/stack_database.py)."""
    own_keys = {key for keys in OWN_SECRETS.values() for key in keys}
    shared = {key: value for key, value in env.items() if key not in own_keys and key != ADMIN_DATABASE_URL}
    return shared, {name: {key: env[key] for key in keys if key in env} for name, keys in OWN_SECRETS.items()}


def component_commands(stack: Stack) -> dict[str, list[str]]:
    airflow = str(BIN / "airflow")
    commands = {
        "registry": ["docker-registry", "serve", str(stack.path("registry", "config.yml"))],
        # Credentials come from RCLONE_AUTH_KEY (set by `up`), not the command line.
        "s3": [
            str(BIN / "rclone"),
            "serve",
            "s3",
            "--addr",
            f"127.0.0.1:{stack.s3_port}",
            "--config",
            "",
            "--log-level",
            "NOTICE",
            str(stack.path("s3")),
        ],
        "api-server": [airflow, "api-server", "--host", "127.0.0.1", "--port", str(stack.port)],
        # serve-logs would bind all interfaces; task logs are read from local files anyway.
        "scheduler": [airflow, "scheduler", "--skip-serve-logs"],
        "dag-processor": [airflow, "dag-processor"],
        "triggerer": [airflow, "triggerer", "--skip-serve-logs"],
        # Runs lost between commits, lost write-backs, queue-time limits (engine/reconciler.py).
        "reconciler": [sys.executable, "-m", "prominence.engine.reconciler"],
    }
    if not embedded_s3(stack):
        del commands["s3"]
    mode = CeleryMode.load(stack.home)
    hosts = worker_hosts(mode, stack.home)
    if mode and hosts:
        services = [stack.database_url or "", mode.broker_url, stack.url, "//" + stack.registry]
        ports = relayed_ports(services + ([stack.s3_url] if embedded_s3(stack) else []))
        commands.update(link_commands(hosts, ports))
    commands.update(worker_commands(mode, airflow, worker_cpus(), stack.home))
    return commands
