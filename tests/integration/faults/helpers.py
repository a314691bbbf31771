"""What the fault tests share: jobs that print a unique marker, killing a component by its pid
file, and measuring how long the stack took to run jobs again."""

from __future__ import annotations

import os
import signal
import time
import uuid

import httpx

from prominence.contract.states import TERMINAL
from tests.integration.api import Api, job
from tests.integration.test_workflows import wf_job

RECOVERY_LIMIT_SECONDS = 60


def marked(image: str, seconds: float = 0, **extra) -> tuple[dict, str]:
    """A job printing a marker of its own, once per container run, then sleeping `seconds`."""
    marker = f"run-{uuid.uuid4().hex[:12]}"
    return job(image, f"sh -c 'echo {marker}; sleep {seconds}'", **extra), marker


def runs_of(api: Api, job_id: int, marker: str) -> int:
    """How many times the job's container ran: its marker's lines in stdout."""
    return api.stdout(job_id).split().count(marker)


def three_levels(image: str, name: str) -> dict:
    """A workflow A -> B -> C, each job printing its own marker."""
    jobs = [wf_job(level, image, f"sh -c 'echo {name}-{level}; sleep 2'") for level in "ABC"]
    return {"name": name, "jobs": jobs, "dependencies": {"A": ["B"], "B": ["C"]}}


def kill(stack, component: str, sig: int = signal.SIGKILL) -> int:
    pid = int(stack.home.joinpath("run", f"{component}.pid").read_text())
    os.kill(pid, sig)
    return pid


def wait_restarted(stack, component: str, old_pid: int, timeout: float = 90) -> float:
    """Seconds until supervisord has the component running again under a new pid."""
    started = time.monotonic()
    pid_file = stack.home / "run" / f"{component}.pid"
    while time.monotonic() - started < timeout:
        try:
            if int(pid_file.read_text()) != old_pid:
                return time.monotonic() - started
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"{component} was not restarted within {timeout} s")


def wait_all(api: Api, job_ids: list[int], timeout: float = 240) -> dict[int, dict]:
    deadline = time.monotonic() + timeout
    while True:
        jobs = {job_id: api.describe(job_id) for job_id in job_ids}
        if all(j["status"] in TERMINAL for j in jobs.values()) or time.monotonic() > deadline:
            return jobs
        time.sleep(0.5)


def healthy(stack) -> bool:
    """Our REST app answers, and Airflow reports its scheduler, triggerer and dag-processor alive."""
    if httpx.get(f"{stack.url}/health", timeout=5).status_code != 204:
        return False
    monitor = httpx.get(stack.env["AIRFLOW__API__BASE_URL"] + "/api/v2/monitor/health", timeout=5).json()
    return all((monitor.get(part) or {}).get("status") == "healthy" for part in ("scheduler", "triggerer", "dag_processor"))


def time_to_full_speed(stack, api: Api, since: float, timeout: float = 180) -> float:
    """Seconds from `since` until the stack is whole again: every component healthy, and jobs
    running on every slot of the pool that active jobs could fill (a queued job waits only for
    a slot, not for a component)."""
    slots = int(stack.env["PROMINENCE_WORKER_CPUS"])
    deadline = since + timeout
    statuses: list[str] = []
    while time.monotonic() < deadline:
        try:
            if healthy(stack):
                statuses = [j["status"] for j in api.client.get("/jobs").json() if j["status"] not in TERMINAL]
                if statuses.count("running") >= min(slots, len(statuses)):
                    return time.monotonic() - since
        except (httpx.HTTPError, ValueError):
            pass  # the api-server is still starting
        time.sleep(0.5)
    raise AssertionError(f"the stack was not running its jobs again within {timeout} s: active jobs {statuses}")


def report(fault: str, **figures) -> None:
    print(f"\nFAULT {fault}: " + ", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()))
