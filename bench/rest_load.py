"""REST under load: 10,000 jobs stored, 500 trivial jobs submitted at once, and while they run,
8 clients create, describe and list 1,000 jobs, each on a fresh stack per database.

    bench/rest_load.py [--databases sqlite,postgresql] [--jobs N]

The targets: create p50 at most twice describe p50 of the same run (a create does one more
write, not more waiting), create p99 ≤ 250 ms, the list of 1,000 ≤ 100 ms (measured three ways:
8 clients listing at once, one alone, and one while 8 others create). The list is the CLI's
`list --completed -n 1000` (`GET /jobs?completed=true&num=1000`); describe is `GET /jobs/<id>`,
always with detail. The burst belongs to another user, so the measured user's lists see only
its stored jobs; its statuses before and after the window show that the stack was loaded all
through it (jobs running and idle) and how many ended meanwhile.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.measure import client, median, percentile, timed_calls, wait_terminal  # noqa: E402
from bench.rest import CLIENTS, PER_CLIENT, USER, seed  # noqa: E402
from bench.stack import fresh_postgres_stack, fresh_stack  # noqa: E402
from prominence.contract.states import TERMINAL  # noqa: E402

STORED = 10000
JOBS = 500
LISTED = 1000
DATABASES = ("sqlite", "postgresql")
BURST_USER = "load"


def burst_statuses(api, ids: list[int]) -> dict[str, int]:
    jobs = api.get("/jobs", params={"id": ",".join(map(str, ids))}).json()
    return dict(collections.Counter(job["status"] for job in jobs))


def ended(statuses: dict[str, int]) -> int:
    return sum(n for status, n in statuses.items() if status in TERMINAL)


class RunningSampler(threading.Thread):
    """How many of the burst's jobs run, once a second through the window."""

    def __init__(self, api) -> None:
        super().__init__(daemon=True)
        self.api, self.counts, self.done = api, [], threading.Event()

    def run(self) -> None:
        while not self.done.wait(1):
            self.counts.append(len(self.api.get("/jobs", params={"status": "running"}).json()))


def wait_running(api, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not api.get("/jobs", params={"status": "running"}).json():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no job of the burst running within {timeout} s")
        time.sleep(0.5)


def while_others(new, call, others_call) -> list[float]:
    """Latencies of `call` by one client, made one after the other while CLIENTS others make
    PER_CLIENT `others_call` each."""
    latencies: list[float] = []
    with ThreadPoolExecutor(1) as pool:
        others = pool.submit(timed_calls, new, others_call, CLIENTS, PER_CLIENT)
        while not others.done():
            latencies.extend(timed_calls(new, call, 1, 1))
        others.result()
    return latencies


def run(stack, jobs: int = JOBS) -> dict:
    seed(stack.env, STORED)
    token = stack.token(USER)
    new = lambda: client(stack.url, token)  # noqa: E731
    api = new()
    body = {"resources": {"cpus": 1, "memory": 1}, "tasks": [{"image": stack.sample_image, "cmd": "true"}]}
    probe = api.post("/jobs", json={**body, "tasks": [{"image": stack.sample_image, "cmd": "echo probe"}]}).json()["id"]
    wait_terminal(api, probe)

    burst_token = stack.token(BURST_USER)
    burst_api = client(stack.url, burst_token)
    submit_started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        ids = list(pool.map(lambda _: client(stack.url, burst_token).post("/jobs", json=body).json()["id"], range(jobs)))
    submitted_s = time.perf_counter() - submit_started
    wait_running(burst_api)

    listing = lambda c, i: c.get("/jobs", params={"completed": "true", "num": LISTED})  # noqa: E731
    creating = lambda c, i: c.post("/jobs", json=body)  # noqa: E731
    # (figure, latencies); the list once more by one client alone (its own cost, without the
    # other clients' calls on the same interpreter) and by one client while the others create.
    phases = [
        ("health", lambda: timed_calls(new, lambda c, i: c.get("/health"), CLIENTS, PER_CLIENT)),
        ("describe", lambda: timed_calls(new, lambda c, i: c.get(f"/jobs/{probe}"), CLIENTS, PER_CLIENT)),
        ("create", lambda: timed_calls(new, creating, CLIENTS, PER_CLIENT)),
        ("list", lambda: timed_calls(new, listing, CLIENTS, PER_CLIENT)),
        ("list_alone", lambda: timed_calls(new, listing, 1, PER_CLIENT)),
        ("list_while_creating", lambda: while_others(new, listing, creating)),
    ]
    listed = len(listing(api, 0).json())
    before, load_before = burst_statuses(burst_api, ids), os.getloadavg()[0]
    sampler = RunningSampler(client(stack.url, burst_token))
    window_started = time.perf_counter()
    sampler.start()
    figures = {}
    for name, measure in phases:
        print(f"rest_load: {name} (stack in {stack.home})", flush=True)
        latencies = measure()
        figures[f"{name}_p50_ms"] = 1000 * median(latencies)
        figures[f"{name}_p99_ms"] = 1000 * percentile(latencies, 99)
        figures[f"{name}_n"] = len(latencies)
    sampler.done.set()
    window_s = time.perf_counter() - window_started
    after, load_after = burst_statuses(burst_api, ids), os.getloadavg()[0]
    return {
        "stored": STORED,
        "jobs": jobs,
        "listed": listed,
        "submit_s": submitted_s,
        "window_s": window_s,
        "burst_before": before,
        "burst_after": after,
        "ended_during_window": ended(after) - ended(before),
        "running_min_mean_max": [min(sampler.counts), sum(sampler.counts) / len(sampler.counts), max(sampler.counts)],
        "load_average": [load_before, load_after],
        **figures,
    }


def run_all(jobs: int = JOBS, databases: tuple[str, ...] = DATABASES) -> dict:
    results = {}
    for database in databases:
        opened = fresh_postgres_stack() if database == "postgresql" else fresh_stack()
        with opened as stack:
            results[database] = run(stack, jobs)
        print(database, json.dumps(results[database]), flush=True)
    return results


def rows(results: dict) -> list[tuple[str, float, str, float, str]]:
    """(figure, value, target, baseline, unit) for bench/run.py's table: ratios against describe."""
    out = []
    for database, r in results.items():
        label, describe = f"under load ({database})", r["describe_p50_ms"]
        out.append((f"{label}: create p50 / describe p50", r["create_p50_ms"], "≤ 2×", describe, "ms"))
        out.append((f"{label}: create p99", r["create_p99_ms"], "≤ 250", describe, "ms"))
        out.append((f"{label}: describe p50", describe, "", r["health_p50_ms"], "ms"))
        out.append((f"{label}: describe p99", r["describe_p99_ms"], "", r["health_p99_ms"], "ms"))
        out.append((f"{label}: list {r['listed']} p50", r["list_p50_ms"], "≤ 100", describe, "ms"))
        out.append((f"{label}: list {r['listed']} p99", r["list_p99_ms"], "≤ 100", describe, "ms"))
        out.append((f"{label}: list {r['listed']} p50, 1 client", r["list_alone_p50_ms"], "≤ 100", describe, "ms"))
        out.append((f"{label}: list {r['listed']} p50 while 8 create", r["list_while_creating_p50_ms"], "≤ 100", describe, "ms"))
        out.append((f"{label}: list {r['listed']} p99 while 8 create", r["list_while_creating_p99_ms"], "≤ 100", describe, "ms"))
        low, mean, high = r["running_min_mean_max"]
        out.append((f"{label}: burst jobs running, mean (max)", mean, "> 0", high, "jobs"))
        out.append((f"{label}: burst ended in the {r['window_s']:.0f} s", r["ended_during_window"], "", r["jobs"], "jobs"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", default=",".join(DATABASES), help="comma-separated: sqlite, postgresql")
    parser.add_argument("--jobs", type=int, default=JOBS, help="jobs in the burst")
    args = parser.parse_args()
    results = run_all(args.jobs, tuple(args.databases.split(",")))
    for figure, value, target, baseline, unit in rows(results):
        ratio = value / baseline if baseline else float("nan")
        print(f"{figure:52} {value:10.2f} {unit:5} {target:>6} {baseline:10.2f} {ratio:8.2f}")


if __name__ == "__main__":
    main()
