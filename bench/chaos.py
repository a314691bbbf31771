"""Chaos: trivial jobs and a parameter sweep while a random component is SIGKILLed at intervals
(issue 12 item 8). It prints what a user would count: jobs accepted, completed, lost (not
completed), duplicated (a container that ran more than once: its marker twice in stdout), and
the worst recovery time (a kill until every component is healthy and the API answers again).

    bench/chaos.py [--jobs N] [--members M] [--every S] [--for S]

Defaults: 500 jobs, a 200-member sweep, a kill every 20 s for 5 minutes. The target is 0 lost,
0 duplicated; nothing here asserts it (the fault tests do, tests/integration/faults).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.measure import client  # noqa: E402
from bench.stack import fresh_stack  # noqa: E402
from prominence.contract.states import TERMINAL  # noqa: E402

COMPONENTS = ("scheduler", "api-server", "triggerer", "dag-processor", "reconciler")
MARKER = "chaos-run"
WAIT_SECONDS = 1800


def job_body(image: str) -> dict:
    return {"resources": {"cpus": 1, "memory": 1}, "tasks": [{"image": image, "cmd": f"echo {MARKER}"}]}


def sweep_body(image: str, members: int) -> dict:
    member = {
        "name": "member",
        "resources": {"cpus": 1, "memory": 1, "disk": 1},
        "tasks": [{"image": image, "cmd": f"echo {MARKER}"}],
    }
    factory = {"name": "n", "type": "parameterSweep", "jobs": ["member"]}
    factory["parameters"] = [{"name": "i", "start": 1, "end": members, "step": 1}]
    return {"name": f"chaos{members}", "jobs": [member], "factories": [factory]}


def healthy(stack) -> bool:
    """Our REST app answers and Airflow reports its scheduler, triggerer and dag-processor alive."""
    try:
        if httpx.get(f"{stack.url}/health", timeout=5).status_code != 204:
            return False
        monitor = httpx.get(stack.env["AIRFLOW__API__BASE_URL"] + "/api/v2/monitor/health", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return False
    return all((monitor.get(part) or {}).get("status") == "healthy" for part in ("scheduler", "triggerer", "dag_processor"))


def kill_one(stack, rng: random.Random) -> tuple[str, float]:
    """SIGKILL a random component; the seconds until the stack is whole again."""
    name = rng.choice(COMPONENTS)
    pid_file = stack.home / "run" / f"{name}.pid"
    old = int(pid_file.read_text())
    killed = time.monotonic()
    os.kill(old, signal.SIGKILL)
    while True:
        try:
            restarted = int(pid_file.read_text()) != old
        except (OSError, ValueError):
            restarted = False
        # Airflow's monitor still says healthy for a while after a kill: wait for the new process.
        if restarted and healthy(stack):
            return name, time.monotonic() - killed
        if time.monotonic() - killed > 600:
            return name, float("inf")
        time.sleep(0.5)


def submit(api: httpx.Client, body: dict, path: str = "/jobs") -> int | None:
    """The new id, None if the api-server was down (not accepted, so not counted)."""
    try:
        response = api.post(path, json=body)
    except httpx.HTTPError:
        return None
    return response.json()["id"] if response.status_code == 201 else None


def run(stack, jobs: int, members: int, every: float, duration: float, seed: int = 12) -> dict:
    api = client(stack.url, stack.token("chaos"))
    rng = random.Random(seed)
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        submitted = pool.map(lambda _: submit(api, job_body(stack.sample_image)), range(jobs))
        job_ids = [job_id for job_id in submitted if job_id is not None]
    workflow_id = submit(api, sweep_body(stack.sample_image, members), "/workflows") if members else None
    kills = []
    while time.monotonic() - started < duration:
        time.sleep(max(0.0, every - (time.monotonic() - started) % every))
        kills.append(kill_one(stack, rng))
        print(f"killed {kills[-1][0]}: whole again after {kills[-1][1]:.1f} s", flush=True)
    member_ids = wait_for_members(api, workflow_id, members) if workflow_id else []
    states = wait_terminal(api, job_ids + member_ids)
    runs = {job_id: stdout_of(api, job_id).split().count(MARKER) for job_id in states}
    return {
        "accepted": len(job_ids) + members * (workflow_id is not None),
        "completed": sum(status == "completed" for status in states.values()),
        "lost": len(job_ids) + members * (workflow_id is not None) - sum(s == "completed" for s in states.values()),
        "duplicated": sum(count > 1 for count in runs.values()),
        "kills": len(kills),
        "worst_recovery_s": max((seconds for _, seconds in kills), default=0.0),
        "seconds": time.monotonic() - started,
    }


def wait_for_members(api: httpx.Client, workflow_id: int, members: int) -> list[int]:
    """The sweep's member jobs once all are released (or the wait runs out)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            response = api.get("/jobs", params={"workflow": "true", "id": workflow_id, "all": "true", "num": -1})
            found = [item["id"] for item in response.json()] if response.status_code == 200 else []
        except (httpx.HTTPError, ValueError):
            found = []
        if len(found) >= members or time.monotonic() > deadline:
            return found
        time.sleep(2)


def wait_terminal(api: httpx.Client, job_ids: list[int]) -> dict[int, str]:
    deadline = time.monotonic() + WAIT_SECONDS
    states: dict[int, str] = {}
    while True:
        for job_id in [j for j in job_ids if states.get(j) not in TERMINAL]:
            try:
                states[job_id] = api.get(f"/jobs/{job_id}").json()[0]["status"]
            except (httpx.HTTPError, ValueError, IndexError, KeyError):
                pass
        if all(states.get(j) in TERMINAL for j in job_ids) or time.monotonic() > deadline:
            return states
        time.sleep(2)


def stdout_of(api: httpx.Client, job_id: int) -> str:
    try:
        return api.get(f"/jobs/{job_id}/stdout").text
    except httpx.HTTPError:
        return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--every", type=float, default=20.0)
    parser.add_argument("--for", dest="duration", type=float, default=300.0)
    args = parser.parse_args()
    with fresh_stack() as stack:
        figures = run(stack, args.jobs, args.members, args.every, args.duration)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
