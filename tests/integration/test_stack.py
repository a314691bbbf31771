"""The stack itself: health without auth, loopback only, `up` idempotent, and a `down` that leaves
no process behind while the next `up` finds the database as it was."""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
from stack_hosts import BLOCK


def processes() -> dict[int, tuple[int, int]]:
    """Every live process: pid -> (session id, start time in ticks)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                found[int(entry.name)] = (int(fields[3]), int(fields[19]))
    return found


def session_pids(home: Path) -> dict[int, int]:
    """pid -> start time of every live process in the sessions of the stack's pid files."""
    leaders = {int(p.read_text()) for p in (home / "run").glob("*.pid")}
    return {pid: start for pid, (sid, start) in processes().items() if sid in leaders}


def component_pids(home: Path) -> dict[str, tuple[int, int]]:
    """component -> (pid, start time) of the stack's own processes, as its pid files name them
    (task processes come and go with the jobs of other tests, so they are not compared)."""
    live = processes()
    return {p.stem: (pid, live[pid][1]) for p in (home / "run").glob("*.pid") if (pid := int(p.read_text())) in live}


def admin_client(stack) -> httpx.Client:
    base = stack.env["AIRFLOW__API__BASE_URL"]
    login = httpx.post(f"{base}/auth/token", json={"username": "admin", "password": stack.admin_password})
    assert login.status_code == 201, login.text
    return httpx.Client(
        base_url=f"{base}/api/v2", headers={"Authorization": f"Bearer {login.json()['access_token']}"}, timeout=60
    )


def test_health_answers_204_without_auth(stack):
    response = httpx.get(f"{stack.url}/health")
    assert response.status_code == 204


def test_up_again_is_a_quick_no_op(stack):
    before = component_pids(stack.home)
    started = time.monotonic()
    up = stack.stack_py("up")
    assert up.returncode == 0, up.stderr
    assert time.monotonic() - started < 10
    assert len(before) >= 5 and component_pids(stack.home) == before


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss(8)")
def test_listens_on_loopback_only(stack):
    pids = session_pids(stack.home)
    listening = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout.splitlines()
    ours = [line for line in listening if any(f"pid={pid}," in line for pid in pids)]
    assert len(ours) >= 2  # api-server and registry
    log_servers = worker_log_ports(stack)
    for line in ours:
        address = line.split()[3]
        if int(address.rsplit(":", 1)[1]) in log_servers or on_a_worker_link(address):
            continue
        assert address.startswith("127.0.0.1:"), line


def on_a_worker_link(address: str) -> bool:
    """Worker hosts' relays listen on the machine's end of each worker's link, which only that
    worker's network namespace reaches (scripts/stack_hosts.py)."""
    if os.environ.get("PROMINENCE_CELERY_HOSTS") != "netns":
        return False
    return ipaddress.ip_address(address.rsplit(":", 1)[0]) in BLOCK


def worker_log_ports(stack) -> set[int]:
    """The one exception, in Celery mode: Airflow's worker log servers bind every interface (its
    serve-logs has no host setting); they answer only requests signed with the stack's JWT secret."""
    if stack.env.get("PROMINENCE_EXECUTOR") != "celery":
        return set()
    first = int(stack.env["PROMINENCE_CELERY_LOG_PORT"])
    return set(range(first, first + int(stack.env["PROMINENCE_CELERY_WORKERS"])))


def test_down_leaves_nothing_and_up_keeps_the_database(stack):
    marker = f"marker-{uuid.uuid4().hex[:8]}"
    with admin_client(stack) as client:
        assert client.post("/pools", json={"name": marker, "slots": 1}).status_code == 201
    pids = session_pids(stack.home)
    assert len(pids) >= 6  # supervisor and five components, plus their children

    down = stack.stack_py("down")
    assert down.returncode == 0, down.stderr
    now = processes()
    alive = [pid for pid, start in pids.items() if pid in now and now[pid][1] == start]
    assert alive == [], subprocess.run(
        ["ps", "-o", "pid,args", "-p", ",".join(map(str, alive))], capture_output=True, text=True
    ).stdout
    assert list((stack.home / "run").glob("*.pid")) == []
    assert stack.stack_py("status").returncode == 3

    up = stack.stack_py("up")
    assert up.returncode == 0, f"{up.stdout}\n{up.stderr}"
    assert httpx.get(f"{stack.url}/health").status_code == 204
    with admin_client(stack) as client:
        assert client.get(f"/pools/{marker}").status_code == 200
