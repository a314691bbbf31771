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
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from stack_config import (
    BIN, COMPONENTS, REPO, Stack, component_commands, embedded_s3, load_secrets, stack_env, worker_cpus,
)
from supervisor import (
    MARKER, STOP_GRACE, record_session, signal_group, spawn, stack_processes, stop_groups, supervise, sweep,
    wait_until,
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
    migrate = "from prominence.store.db import store_engine; store_engine()"
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
