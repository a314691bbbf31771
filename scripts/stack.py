#!/usr/bin/env python3
"""Bring the embedded PROMINENCE stack (Airflow, image registry, S3 server) up and down, supervised.

    stack.py up | down | status | token USER [--groups G] | env [--json]

Why not `airflow standalone`: it orphans its children on SIGTERM and forces the simple auth
manager. Instead every component runs in its own process group under a small supervisor that
restarts a component that dies (SQLite can kill the scheduler) and stops them all with killpg.

Everything lives under PROMINENCE_HOME (default <repo>/.prominence), so `down` then `up` keeps
the database, the secrets and the registry. Run it with the venv's Python (the Makefile does).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from supervisor import (
    MARKER, STOP_GRACE, read_pid, record_session, signal_group, spawn, stack_processes, stop_groups, supervise, sweep,
    wait_until,
)

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
COMPONENTS = ("registry", "s3", "api-server", "scheduler", "dag-processor", "triggerer")
SAMPLE_IMAGE = "prominence/busybox:latest"
# The user that jobs started from DAGs through the `prominence_default` connection belong to.
DAGS_USER = "airflow"


@dataclass(frozen=True)
class Stack:
    """Where the stack lives and what it binds; env vars override what the last `up` recorded."""

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
        settings = {"port": self.port, "registry": self.registry, "database_url": self.database_url,
                    "s3_port": self.s3_port}
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
    sys.path.insert(0, str(REPO / "plugins"))
    from prominence.auth.tokens import mint_token

    return json.dumps({"conn_type": "http", "host": stack.api_url, "password": mint_token(DAGS_USER, secret=secret)})


def stack_env(stack: Stack) -> dict[str, str]:
    """The single source of the stack's configuration: every component, the tests and the CLI use it."""
    values = load_secrets(stack)
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
        "PYTHONPATH": os.pathsep.join(
            dict.fromkeys([str(REPO / "plugins"), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])
        ),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
        "AIRFLOW__CORE__FERNET_KEY": values["AIRFLOW__CORE__FERNET_KEY"],
        # LocalExecutor forks `parallelism` workers up front (~2 MiB PSS each idle, more once used;
        # default 32). Job tasks are bounded by the pool, so a few per core leave room for staging
        # and workflow tasks.
        "AIRFLOW__CORE__PARALLELISM": os.environ.get("AIRFLOW__CORE__PARALLELISM") or str(max(16, 4 * worker_cpus())),
        # Tasks talk to the api-server's execution API; the default URL is wrong for any port.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{stack.url}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": stack.database_url
        or f"sqlite:///{stack.path('airflow', 'airflow.db')}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(stack.port),
        "AIRFLOW__API__BASE_URL": stack.url,
        "AIRFLOW__API__SECRET_KEY": values["AIRFLOW__API__SECRET_KEY"],
        "AIRFLOW__API_AUTH__JWT_SECRET": values["AIRFLOW__API_AUTH__JWT_SECRET"],
        # Latency: one 3-task run ~5 s -> ~1.5 s for ~20% of a core idle (DESIGN.md §2).
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.1",
        # Tasks keep retrying the api-server for minutes (exponential back-off capped at 90 s), so a
        # task sent again after `up` survives an api-server that starts slowly on a loaded machine.
        "AIRFLOW__WORKERS__EXECUTION_API_RETRIES": "10",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
        "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "2",
        # Workflows are generated DAG files in a bundle of their own (DESIGN.md §2); they never
        # change, so files are re-parsed rarely while new ones are seen within the refresh interval.
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps([
            {"name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {}},
            {"name": "prominence-workflows", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
             "kwargs": {"path": str(stack.path("workflows")), "refresh_interval": 1}},
        ]),
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
    }
    env.update(s3_env(stack, values))
    env["AIRFLOW_CONN_PROMINENCE_DEFAULT"] = dags_connection(stack, values["PROMINENCE_JOB_TOKEN_SECRET"])
    if stack.database_url:
        env["PROMINENCE_DATABASE_URL"] = stack.database_url
    return env


def component_commands(stack: Stack) -> dict[str, list[str]]:
    airflow = str(BIN / "airflow")
    commands = {
        "registry": ["docker-registry", "serve", str(stack.path("registry", "config.yml"))],
        # Credentials come from RCLONE_AUTH_KEY (set by the supervisor), not the command line.
        "s3": [str(BIN / "rclone"), "serve", "s3", "--addr", f"127.0.0.1:{stack.s3_port}",
               "--config", "", "--log-level", "NOTICE", str(stack.path("s3"))],
        "api-server": [airflow, "api-server", "--host", "127.0.0.1", "--port", str(stack.port)],
        # serve-logs would bind all interfaces; task logs are read from local files anyway.
        "scheduler": [airflow, "scheduler", "--skip-serve-logs"],
        "dag-processor": [airflow, "dag-processor"],
        "triggerer": [airflow, "triggerer", "--skip-serve-logs"],
    }
    if not embedded_s3(stack):
        del commands["s3"]
    return commands


# -- commands ----------------------------------------------------------------------------------


def http_status(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, b""
    except (OSError, ValueError):
        return 0, b""


def health(stack: Stack) -> dict[str, bool]:
    """Which parts answer: our REST app, the registry, and Airflow's own view of its jobs."""
    result = {
        "rest": http_status(f"{stack.api_url}/health")[0] == 204,
        "registry": http_status(f"http://{stack.registry}/v2/")[0] == 200,
    }
    if embedded_s3(stack):
        # Any HTTP answer will do: an unsigned request is refused (400).
        result["s3"] = http_status(f"{stack.s3_url}/")[0] != 0
    code, body = http_status(f"{stack.url}/api/v2/monitor/health")
    monitor = json.loads(body) if code == 200 else {}
    for part in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
        result[part] = (monitor.get(part) or {}).get("status") == "healthy"
    return result


class StackError(Exception):
    """A failure worth one line to the user, not a traceback."""


def airflow(stack: Stack, env: dict[str, str], *args: str, attempts: int = 3) -> subprocess.CompletedProcess:
    """Run an `airflow` CLI command, retrying because SQLite may be busy while components start."""
    for attempt in range(attempts):
        done = subprocess.run([str(BIN / "airflow"), *args], env=env, cwd=stack.home, capture_output=True, text=True)
        if done.returncode == 0:
            return done
        time.sleep(1 + attempt)
    raise StackError(f"airflow {' '.join(args[:2])} failed:\n{done.stdout}{done.stderr}")


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in `url` if it is missing (trust auth on this machine)."""
    from sqlalchemy.engine import make_url

    target = make_url(url)
    if not target.drivername.startswith("postgresql"):
        return
    if importlib.util.find_spec("asyncpg") is None:
        raise StackError("PostgreSQL needs asyncpg in the venv: Airflow's api-server opens an async engine")
    import psycopg2

    kw = {"host": target.host, "port": target.port, "user": target.username, "password": target.password}
    conn = psycopg2.connect(dbname="postgres", **{k: v for k, v in kw.items() if v is not None})
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target.database,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{target.database}"')
    conn.close()


def check_free(addresses: list[tuple[str, int]]) -> None:
    """Fail fast on a taken port: a component that cannot bind would only crash-loop."""
    for host, port in addresses:
        with socket.socket() as s:
            if s.connect_ex((host, port)) == 0:
                raise StackError(f"{host}:{port} is already in use (set PROMINENCE_PORT / PROMINENCE_REGISTRY)")


def prepare(stack: Stack, env: dict[str, str]) -> None:
    host, port = stack.registry.rsplit(":", 1)
    check_free([("127.0.0.1", stack.port), (host, int(port))] + ([("127.0.0.1", stack.s3_port)] if embedded_s3(stack) else []))
    for sub in ("airflow", "run", "logs", "sandboxes", "registry", "udocker", "workflows"):
        stack.path(sub).mkdir(parents=True, exist_ok=True)
    if embedded_s3(stack):
        # rclone serves each folder of its root as a bucket: this is the bucket, created once.
        stack.path("s3", env["PROMINENCE_S3_BUCKET"]).mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(REPO / "plugins"))
    from prominence.runtimes.registry import write_registry_config

    write_registry_config(stack.path("registry", "config.yml"), stack.path("registry", "data"), stack.registry)
    if stack.database_url:
        ensure_database(stack.database_url)
    airflow(stack, env, "db", "migrate")
    migrate = "from prominence.store.schema import upgrade_airflow_database; upgrade_airflow_database()"
    done = subprocess.run([sys.executable, "-c", migrate], env=env, cwd=stack.home, capture_output=True, text=True)
    if done.returncode != 0:
        raise StackError(f"migrating PROMINENCE's tables failed:\n{done.stdout}{done.stderr}")


def push_sample_image(stack: Stack, env: dict[str, str]) -> None:
    """Push the offline sample image once; the registry keeps it across restarts."""
    if http_status(f"http://{stack.registry}/v2/prominence/busybox/manifests/latest")[0] == 200:
        return
    script = REPO / "scripts" / "sample-image.sh"
    if not script.exists():
        print(f"warning: {script} is missing; no sample image in the registry", file=sys.stderr)
        return
    done = subprocess.run(["sh", str(script), stack.registry, str(stack.path("registry", "sample"))],
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"warning: sample image push failed:\n{done.stderr}", file=sys.stderr)


def configure(stack: Stack, env: dict[str, str]) -> None:
    """The pool jobs run in (sized to the worker's cores) and the admin user of the Airflow UI."""
    airflow(stack, env, "pools", "set", "prominence", str(worker_cpus()), "PROMINENCE jobs")
    user = airflow(stack, env, "users", "create", "--username", "admin", "--password",
                   load_secrets(stack)["PROMINENCE_ADMIN_PASSWORD"], "--role", "Admin",
                   "--firstname", "PROMINENCE", "--lastname", "Admin", "--email", "admin@localhost")
    if "already exist" not in user.stdout + user.stderr:
        print("created the Airflow admin user")


def cmd_up(stack: Stack, timeout: float) -> int:
    t0 = time.monotonic()
    env = {**os.environ, **stack_env(stack), MARKER: str(stack.home)}
    if embedded_s3(stack):
        # rclone reads its credentials from here (CSV of "access,secret"), not from its argv.
        env["RCLONE_AUTH_KEY"] = f'"{env["PROMINENCE_S3_ACCESS_KEY"]},{env["PROMINENCE_S3_SECRET_KEY"]}"'
    supervisor_log = stack.path("logs", "supervisor.log")
    if stack.pid("supervisor") is None:
        stop_all(stack)  # orphans of a supervisor that was killed would hold the ports
        prepare(stack, env)
        stack.record()
        log_start = supervisor_log.stat().st_size if supervisor_log.exists() else 0
        argv = [sys.executable, str(Path(__file__).resolve()), "_supervise"]
        supervisor = spawn(argv, supervisor_log, env, stack.home)
        record_session(stack.path("run"), supervisor.pid)
        stack.pid_file("supervisor").write_text(f"{supervisor.pid}\n")
        # The CLI calls overlap the components' start-up instead of preceding it.
        try:
            configure(stack, env)
        except StackError:
            cmd_down(stack)
            raise
    else:
        log_start = supervisor_log.stat().st_size
    deadline = time.monotonic() + timeout
    while not all((state := health(stack)).values()):
        with open(supervisor_log, "rb") as f:
            f.seek(log_start)
            crashes = f.read().count(b" exited with ")
        if stack.pid("supervisor") is None or crashes >= 3 or time.monotonic() > deadline:
            print(f"stack not healthy: {state}; see {stack.path('logs')}", file=sys.stderr)
            for name in ("supervisor", *COMPONENTS):
                log = stack.path("logs", f"{name}.log")
                if log.exists():
                    print(f"--- {log} (tail)", *log.read_text(errors="replace").splitlines()[-15:], sep="\n", file=sys.stderr)
            cmd_down(stack)
            return 1
        time.sleep(0.25)
    push_sample_image(stack, env)
    stack.path("env").write_text(f"export PROMINENCE_URL={stack.api_url}\nexport SAMPLE_IMAGE={env['SAMPLE_IMAGE']}\n")
    print(f"PROMINENCE is up in {time.monotonic() - t0:.1f} s: {stack.api_url}")
    print(f"Airflow UI: {stack.url}/  (user admin, password {load_secrets(stack)['PROMINENCE_ADMIN_PASSWORD']})")
    print(f"Environment for the CLI: source {stack.path('env')}")
    return 0


def stop_all(stack: Stack) -> list[int]:
    """Stop the supervisor (which stops the components), then anything that survived it or ran
    without one: component groups first, then stragglers in the stack's sessions. Returns survivors."""
    seen = stack_processes(stack.path("run"), stack.home)
    supervisor = stack.pid("supervisor")
    if supervisor is not None:
        signal_group(supervisor, signal.SIGTERM)
        wait_until(lambda: stack.pid("supervisor") is None, STOP_GRACE + 10)
    stop_groups([pid for name in ("supervisor", *COMPONENTS) if (pid := stack.pid(name)) is not None])
    remaining = sweep(stack.path("run"), stack.home, seen)
    for name in ("supervisor", *COMPONENTS):
        stack.pid_file(name).unlink(missing_ok=True)
    return remaining


def cmd_down(stack: Stack) -> int:
    remaining = stop_all(stack)
    if remaining:
        print(f"processes still running: {remaining}", file=sys.stderr)
        return 1
    print("PROMINENCE is down")
    return 0


def cmd_status(stack: Stack) -> int:
    pids = {name: stack.pid(name) for name in ("supervisor", *COMPONENTS)}
    for name, pid in pids.items():
        print(f"{name:14} {'running pid ' + str(pid) if pid else 'stopped'}")
    if not any(pids.values()):
        return 3
    state = health(stack)
    print(f"{'health':14} " + " ".join(f"{k}={'ok' if v else 'no'}" for k, v in state.items()))
    print(f"{'url':14} {stack.api_url}")
    return 0 if all(pids.values()) and all(state.values()) else 1


def cmd_token(stack: Stack, user: str, groups: str) -> int:
    os.environ["PROMINENCE_JOB_TOKEN_SECRET"] = load_secrets(stack)["PROMINENCE_JOB_TOKEN_SECRET"]
    sys.path.insert(0, str(REPO / "plugins"))
    from prominence.auth.tokens import mint_token

    # No newline: the official CLI breaks on a token file with a trailing newline.
    sys.stdout.write(mint_token(user, groups))
    return 0


def cmd_env(stack: Stack, as_json: bool) -> int:
    env = stack_env(stack)
    print(json.dumps(env, indent=2) if as_json else "\n".join(f"export {k}={shlex.quote(v)}" for k, v in env.items()))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the stack and wait until it is healthy (no-op if up)")
    up.add_argument("--timeout", type=float, default=180.0)
    sub.add_parser("down", help="stop every process of the stack")
    sub.add_parser("status", help="components and health; exit 0 healthy, 1 degraded, 3 stopped")
    token = sub.add_parser("token", help="print a bearer token (JWT) for USER")
    token.add_argument("user")
    token.add_argument("--groups", default="")
    env = sub.add_parser("env", help="print the stack's environment as shell exports")
    env.add_argument("--json", action="store_true")
    sub.add_parser("_supervise")  # internal: the background supervisor started by `up`
    args = parser.parse_args(argv)
    stack = Stack.load()
    if args.command == "up":
        try:
            return cmd_up(stack, args.timeout)
        except StackError as e:
            print(e, file=sys.stderr)
            return 1
    if args.command == "down":
        return cmd_down(stack)
    if args.command == "status":
        return cmd_status(stack)
    if args.command == "token":
        return cmd_token(stack, args.user, args.groups)
    if args.command == "env":
        return cmd_env(stack, args.json)
    supervise(component_commands(stack), stack.home, stack.path("run"), stack.path("logs"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
