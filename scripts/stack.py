#!/usr/bin/env python3
"""Bring the embedded PROMINENCE stack (Airflow, image registry, S3 server) up and down, supervised.

    stack.py up | down | status | token USER [--groups G] [--email E] | env [--json]

Why not `airflow standalone`: it orphans its children on SIGTERM and forces the simple auth
manager. Instead every component runs in its own process group under supervisord, which
restarts a component that dies (SQLite can kill the scheduler) and stops each group as a whole.

Everything lives under PROMINENCE_HOME (default <repo>/.prominence), so `down` then `up` keeps
the database, the secrets and the registry. Run it with the venv's Python (the Makefile does).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shlex
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import stack_celery
import stack_database
import stack_hosts
import supervision
from leftovers import MARKER, proc_stat, stack_processes, sweep, wait_until
from stack_config import (
    BIN,
    REPO,
    WEBSERVER_CONFIG,
    Stack,
    component_commands,
    component_envs,
    embedded_s3,
    load_secrets,
    stack_env,
    worker_cpus,
)

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


def check_free(addresses: list[tuple[str, int]]) -> None:
    """Fail fast on a taken port: a component that cannot bind would only crash-loop."""
    for host, port in addresses:
        with socket.socket() as s:
            if s.connect_ex((host, port)) == 0:
                raise StackError(f"{host}:{port} is already in use (set PROMINENCE_PORT / PROMINENCE_REGISTRY)")


def private_home(stack: Stack) -> None:
    """The home's folders, the stack's own (0700), but for what job uids pass through or read:
    the home itself and `sandboxes/` (0711: no listing; each job reaches its own sandbox only)
    and `udocker/` (0755: the shared images and the runtime jobs run). Every folder above the
    home must let them pass too."""
    stack.home.mkdir(parents=True, exist_ok=True)
    for directory in (stack.home, *stack.home.parents):
        if not directory.stat().st_mode & 0o001 and directory != stack.home:
            raise StackError(f"{directory} must be searchable by others (chmod o+x): jobs run as uids of their own")
    stack.home.chmod(0o711)
    modes = {"sandboxes": 0o711, "udocker": 0o755}
    for sub in ("airflow", "run", "logs", "sandboxes", "registry", "udocker", "workflows"):
        stack.path(sub).mkdir(parents=True, exist_ok=True)
    for path in stack.home.iterdir():
        if not path.is_symlink():
            path.chmod(modes.get(path.name, 0o700) if path.is_dir() else 0o600)
    user_mode_networking()


def user_mode_networking() -> None:
    """pasta, running as a job's uid, opens /dev/net/tun: 0666 as Debian's udev rules make it
    (opening it grants nothing; creating a device needs CAP_NET_ADMIN in a namespace of one's
    own). Machines without udev, like containers, leave it 0600."""
    tun = Path("/dev/net/tun")
    if tun.exists() and tun.stat().st_mode & 0o006 != 0o006 and os.geteuid() == 0:
        tun.chmod(0o666)


def prepare(stack: Stack, env: dict[str, str]) -> None:
    host, port = stack.registry.rsplit(":", 1)
    mode = stack_celery.CeleryMode.load(stack.home)
    log_ports = [("127.0.0.1", p) for p in (mode.log_ports().values() if mode else ())]
    s3_port = [("127.0.0.1", stack.s3_port)] if embedded_s3(stack) else []
    check_free([("127.0.0.1", stack.port), (host, int(port)), *s3_port, *log_ports])
    private_home(stack)
    stack_hosts.create(stack_celery.worker_hosts(mode, stack.home))
    stack.path("airflow", "webserver_config.py").write_text(WEBSERVER_CONFIG)
    if embedded_s3(stack):
        # rclone serves each folder of its root as a bucket: this is the bucket, created once.
        stack.path("s3", env["PROMINENCE_S3_BUCKET"]).mkdir(parents=True, exist_ok=True)
    # Imported only by `up`: `status` and `down` must not pay for the package.
    from prominence.runtimes.registry import write_registry_config

    write_registry_config(stack.path("registry", "config.yml"), stack.path("registry", "data"), stack.registry)
    if stack_database.is_postgresql(stack.database_url):
        try:
            stack_database.ensure_database(stack.database_url, load_secrets(stack)[stack_database.PASSWORD])
        except RuntimeError as e:
            raise StackError(str(e)) from None
    marker, current = stack.path("airflow", MIGRATED), migrated(stack)
    if current is None or read_text(marker) != current:
        airflow(stack, env, "db", "migrate")
        if (current := migrated(stack)) is not None:
            marker.write_text(current)
    if not stack.database_url:
        # WAL (kept by the file): readers such as the API's describe never wait for the
        # scheduler's writes, which on a busy machine held them for tens of seconds.
        with sqlite3.connect(stack.path("airflow", "airflow.db")) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
    migrate = "from prominence.store.db import store_engine; store_engine()"
    done = subprocess.run([sys.executable, "-c", migrate], env=env, cwd=stack.home, capture_output=True, text=True)
    if done.returncode != 0:
        raise StackError(f"migrating PROMINENCE's tables failed:\n{done.stdout}{done.stderr}")


MIGRATED = "migrated"


def sqlite_row(stack: Stack, query: str, *args: object) -> tuple | None:
    """The first row of a read of Airflow's SQLite database; None for PostgreSQL, or without it."""
    path = stack.path("airflow", "airflow.db")
    if stack.database_url or not path.exists():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as connection:
            return connection.execute(query, args).fetchone()
    except sqlite3.Error:
        return None


def migrated(stack: Stack) -> str | None:
    """The installed Airflow and the schema revision of its SQLite database: equal to what the
    last `db migrate` left (`airflow/migrated`), there is nothing to migrate, and `up` saves
    the seconds of an `airflow` CLI's imports."""
    row = sqlite_row(stack, "SELECT version_num FROM alembic_version")
    return None if row is None else f"{importlib.metadata.version('apache-airflow')} {row[0]}\n"


def push_sample_image(stack: Stack, env: dict[str, str]) -> None:
    """Push the offline sample image once; the registry keeps it across restarts."""
    if http_status(f"http://{stack.registry}/v2/prominence/busybox/manifests/latest")[0] == 200:
        return
    script = REPO / "scripts" / "sample-image.sh"
    if not script.exists():
        print(f"warning: {script} is missing; no sample image in the registry", file=sys.stderr)
        return
    done = subprocess.run(
        ["sh", str(script), stack.registry, str(stack.path("registry", "sample"))], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        print(f"warning: sample image push failed:\n{done.stderr}", file=sys.stderr)


def configure(stack: Stack, env: dict[str, str]) -> None:
    """The pool jobs run in (sized to the worker's cores) and the admin user of the Airflow UI."""
    slots = stack_celery.pool_slots(stack_celery.CeleryMode.load(stack.home), worker_cpus())
    # Each `airflow` CLI call costs seconds of imports, competing with the components' start-up:
    # a warm SQLite stack, whose pool and user are as they should be already, skips them.
    if sqlite_row(stack, "SELECT 1 FROM slot_pool WHERE pool = ? AND slots = ?", "prominence", slots) is None:
        airflow(stack, env, "pools", "set", "prominence", str(slots), "PROMINENCE jobs")
    if sqlite_row(stack, "SELECT 1 FROM ab_user WHERE username = ?", "admin") is not None:
        return
    user = airflow(
        stack,
        env,
        "users",
        "create",
        "--username",
        "admin",
        # One argument: a generated password may begin with "-" and would read as an option.
        f"--password={load_secrets(stack)['PROMINENCE_ADMIN_PASSWORD']}",
        "--role",
        "Admin",
        "--firstname",
        "PROMINENCE",
        "--lastname",
        "Admin",
        "--email",
        "admin@localhost",
    )
    if "already exist" not in user.stdout + user.stderr:
        print("created the Airflow admin user")


def cmd_up(stack: Stack, timeout: float) -> int:
    t0 = time.monotonic()
    try:
        mode = stack_celery.CeleryMode.load(stack.home)
        if mode:
            stack_celery.check(stack, mode)
    except ValueError as e:
        raise StackError(str(e)) from None
    env = {**os.environ, **stack_env(stack), MARKER: str(stack.home)}
    if embedded_s3(stack):
        # rclone reads its credentials from here (CSV of "access,secret"), not from its argv.
        env["RCLONE_AUTH_KEY"] = f'"{env["PROMINENCE_S3_ACCESS_KEY"]},{env["PROMINENCE_S3_SECRET_KEY"]}"'
    commands = component_commands(stack)
    started = None
    if stack.pid("supervisor") is None:
        stop_all(stack)  # orphans of a supervisord that was killed would hold the ports
        prepare(stack, env)
        stack.record()
        stack_celery.record(stack.home, mode)
        shared, own = component_envs(env)
        started = supervision.start(stack, commands, shared, own)
        # The CLI calls overlap the components' start-up instead of preceding it.
        try:
            configure(stack, env)
        except StackError:
            cmd_down(stack)
            raise
    deadline = time.monotonic() + timeout
    starts: dict[str, set[float]] = {name: set() for name in commands}
    while not ready(stack, commands, state := health(stack)):
        infos = supervision.components(stack) or {}
        for name, info in infos.items():
            starts[name].add(info["start"])
        # A component that keeps dying is a crash loop (say, a broken plugin): no use waiting.
        looping = [name for name, info in infos.items() if info["statename"] == "FATAL" or len(starts[name]) > 3]
        # supervisord writes its pid file a moment after it starts: gone is when it has exited.
        gone = stack.pid("supervisor") is None and (started is None or started.poll() is not None)
        if gone or looping or time.monotonic() > deadline:
            print(f"stack not healthy: {state}, crash loop: {looping}; see {stack.path('logs')}", file=sys.stderr)
            for name in ("supervisor", *commands):
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


def ready(stack: Stack, commands: dict[str, list[str]], state: dict[str, bool]) -> bool:
    """Healthy, every component RUNNING for supervisord, and its pid file written."""
    if not all(state.values()):
        return False
    infos = supervision.components(stack) or {}
    return set(infos) == set(commands) and all(
        info["statename"] == "RUNNING" and read_text(stack.pid_file(name)) == f"{info['pid']}\n" for name, info in infos.items()
    )


def read_text(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def stop_all(stack: Stack) -> list[int]:
    """Stop supervisord (the scheduler first, then the other components), then sweep whatever
    survived it or ran without it, e.g. a task that outlived its scheduler, saying what it found
    and how it ended each. Returns survivors."""
    seen = stack_processes(stack.path("run"), stack.home)
    supervisor = stack.pid("supervisor")
    if supervisor is not None:
        supervision.stop(stack)
        # Until supervisord has exited, not just removed its pid file: the sweep would find it.
        wait_until(lambda: proc_stat(supervisor) is None, supervision.STOP_GRACE + 10)
    swept = sweep(stack.path("run"), stack.home, seen)
    for line in swept.lines():
        print(line, file=sys.stderr)
    for pid_file in stack.path("run").glob("*.pid"):
        pid_file.unlink(missing_ok=True)
    stack_hosts.destroy(stack_celery.worker_hosts(stack_celery.CeleryMode.load(stack.home), stack.home))
    return swept.survivors


def cmd_down(stack: Stack) -> int:
    remaining = stop_all(stack)
    if remaining:
        print(f"processes still running: {remaining}", file=sys.stderr)
        return 1
    print("PROMINENCE is down")
    return 0


def cmd_status(stack: Stack) -> int:
    """Each component's state as supervisord reports it, then the stack's health."""
    supervisor = stack.pid("supervisor")
    infos = (supervision.components(stack) if supervisor else None) or {}
    print(f"{'supervisor':16} {'running pid ' + str(supervisor) if supervisor else 'stopped'}")
    for name in component_commands(stack):
        info = infos.get(name, {"statename": "STOPPED"})
        print(f"{name:16} {'running pid ' + str(info['pid']) if info['statename'] == 'RUNNING' else info['statename'].lower()}")
    if supervisor is None:
        return 3
    state = health(stack)
    print(f"{'health':16} " + " ".join(f"{k}={'ok' if v else 'no'}" for k, v in state.items()))
    print(f"{'url':16} {stack.api_url}")
    running = infos and all(info["statename"] == "RUNNING" for info in infos.values())
    return 0 if running and all(state.values()) else 1


def cmd_token(stack: Stack, user: str, groups: str, email: str | None = None) -> int:
    os.environ["PROMINENCE_JOB_TOKEN_SECRET"] = load_secrets(stack)["PROMINENCE_JOB_TOKEN_SECRET"]
    # Imported once the signing key is in os.environ: the package reads its settings on first use.
    from prominence.auth.tokens import mint_token

    # No newline: the official CLI breaks on a token file with a trailing newline.
    sys.stdout.write(mint_token(user, groups, email=email))
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
    token.add_argument("--email", default=None, help="the address notifications of USER's jobs go to")
    env = sub.add_parser("env", help="print the stack's environment as shell exports")
    env.add_argument("--json", action="store_true")
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
        return cmd_token(stack, args.user, args.groups, args.email)
    return cmd_env(stack, args.json)


if __name__ == "__main__":
    sys.exit(main())
