"""Celery mode of the embedded stack (`PROMINENCE_EXECUTOR=celery`): the scheduler hands task
instances to a broker (Redis by default) and separate `airflow celery worker` processes,
components `worker-1` ... `worker-N`, run them; their results go to the PostgreSQL database.

Every worker shares the stack's environment (execution-API URL, JWT secret, database), so on
another machine a worker started with the same `stack.py env` behaves as one of these. Each
has its own Celery node name, its own log-server port and its own PROMINENCE_SITE (reported as
the job's `execution.site`), set on its command line: none of them is a secret.
With PROMINENCE_CELERY_HOSTS=netns each worker runs as on a host of its own (scripts/stack_hosts.py).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import stack_hosts

if TYPE_CHECKING:
    from stack_config import Stack

RECORD = "executor.json"
DEFAULT_WORKERS = 2
# Airflow's own default port of a worker's log server; worker i serves on this + i - 1.
DEFAULT_LOG_PORT = 8793
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
# Started after, and stopped right after, the scheduler (scripts/supervision.py).
WORKER_PRIORITY = 500


@dataclass(frozen=True)
class CeleryMode:
    """How many workers, which broker, the first worker's log-server port, and whether the
    workers share the machine (`shared`) or each has a network namespace of its own (`netns`)."""

    workers: int
    broker_url: str
    log_port: int
    hosts: str = "shared"

    @classmethod
    def load(cls, home: Path) -> CeleryMode | None:
        """The mode the environment asks for, else the one the last `up` recorded; None for LocalExecutor."""
        recorded = json.loads((home / RECORD).read_text()) if (home / RECORD).exists() else {}
        executor = os.environ.get("PROMINENCE_EXECUTOR") or recorded.get("executor") or "local"
        if executor == "local":
            return None
        if executor != "celery":
            raise ValueError(f"PROMINENCE_EXECUTOR must be local or celery, not {executor!r}")
        celery = recorded.get("celery", {})
        return cls(
            workers=int(os.environ.get("PROMINENCE_CELERY_WORKERS") or celery.get("workers") or DEFAULT_WORKERS),
            broker_url=os.environ.get("PROMINENCE_CELERY_BROKER_URL") or celery.get("broker_url") or DEFAULT_BROKER,
            log_port=int(os.environ.get("PROMINENCE_CELERY_LOG_PORT") or celery.get("log_port") or DEFAULT_LOG_PORT),
            hosts=os.environ.get("PROMINENCE_CELERY_HOSTS") or celery.get("hosts") or "shared",
        )

    def worker_names(self) -> list[str]:
        return [f"worker-{i}" for i in range(1, self.workers + 1)]

    def log_ports(self) -> dict[str, int]:
        """Worker i serves its logs on log_port + i - 1; on hosts of their own, all on log_port, where
        the api-server reads a running task's log from the address its task instance names."""
        if self.hosts == "netns":
            return dict.fromkeys(self.worker_names(), self.log_port)
        return {name: self.log_port + i for i, name in enumerate(self.worker_names())}


def record(home: Path, mode: CeleryMode | None) -> None:
    """Remember the executor, so `status` and `down` find the workers without env vars."""
    settings = {"executor": "celery", "celery": asdict(mode)} if mode else {"executor": "local"}
    (home / RECORD).write_text(json.dumps(settings, indent=2) + "\n")


def check(stack: Stack, mode: CeleryMode) -> None:
    """Celery needs a database every host reaches: SQLite is one file on one machine."""
    if not (stack.database_url or "").startswith("postgresql"):
        raise ValueError("PROMINENCE_EXECUTOR=celery needs PROMINENCE_DATABASE_URL naming a PostgreSQL database")
    if mode.workers < 1:
        raise ValueError("PROMINENCE_CELERY_WORKERS must be at least 1")
    if mode.hosts not in stack_hosts.MODES:
        raise ValueError(f"PROMINENCE_CELERY_HOSTS must be one of {', '.join(stack_hosts.MODES)}, not {mode.hosts!r}")
    if mode.hosts == "netns" and os.geteuid() != 0:
        raise ValueError("PROMINENCE_CELERY_HOSTS=netns needs root (network namespaces)")
    if mode.hosts == "netns" and mode.workers > stack_hosts.MAX_WORKERS:
        raise ValueError(f"PROMINENCE_CELERY_HOSTS=netns runs at most {stack_hosts.MAX_WORKERS} workers")


def result_backend(database_url: str) -> str:
    """Celery's database result backend on the stack's own PostgreSQL (`db+postgresql...`)."""
    return f"db+{database_url}"


def celery_env(mode: CeleryMode | None, worker_cpus: int, database_url: str | None) -> dict[str, str]:
    """What the scheduler and the workers add to the stack's environment in Celery mode
    (`database_url`: the one the components connect with)."""
    if mode is None:
        return {}
    return {
        "PROMINENCE_EXECUTOR": "celery",
        "PROMINENCE_CELERY_WORKERS": str(mode.workers),
        "PROMINENCE_CELERY_BROKER_URL": mode.broker_url,
        "PROMINENCE_CELERY_LOG_PORT": str(mode.log_port),
        "PROMINENCE_CELERY_HOSTS": mode.hosts,
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": mode.broker_url,
        # Where the api-server reads a running task's log (each worker sets its own on its command line).
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(mode.log_port),
        "AIRFLOW__CELERY__RESULT_BACKEND": result_backend(database_url or ""),
        # One task process per pool slot of the worker: the pool has worker_cpus slots per worker.
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(worker_cpus),
    }


def pool_slots(mode: CeleryMode | None, worker_cpus: int) -> int:
    """The `prominence` pool: every worker's cpus (a job still fits on one worker, see the engine)."""
    return worker_cpus * (mode.workers if mode else 1)


def worker_hosts(mode: CeleryMode | None, home: Path) -> list[stack_hosts.WorkerHost]:
    """The workers' own hosts, none unless they have network namespaces of their own."""
    return stack_hosts.hosts(home, mode.workers) if mode and mode.hosts == "netns" else []


def worker_commands(mode: CeleryMode | None, airflow: str, worker_cpus: int, home: Path) -> dict[str, list[str]]:
    """One supervised `airflow celery worker` per worker, each with its node name, log port and
    site; on hosts of their own, each in its namespaces with its share of the job uids."""
    if mode is None:
        return {}
    host = socket.gethostname()
    hosts = {f"worker-{h.index}": h for h in worker_hosts(mode, home)}
    if hosts:
        # Imported only for worker hosts: `status` and `down` must not pay for the package.
        from prominence.runtimes.identity import uid_range

        uids = uid_range()
    commands = {}
    for name, port in mode.log_ports().items():
        node = f"{name}@{host}"
        own = hosts.get(name)
        commands[name] = [
            "env",
            f"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT={port}",
            f"PROMINENCE_SITE={node}",
            *(stack_hosts.worker_env(own, uids, mode.workers) if own else []),
            airflow,
            "celery",
            "worker",
            "--celery-hostname",
            node,
            "--concurrency",
            str(worker_cpus),
            "--without-gossip",
            "--without-mingle",
        ]
        if own:
            commands[name] = stack_hosts.on_host(own, home, commands[name])
    return commands
