"""Small measuring helpers shared by the benchmarks: percentiles, concurrent timed calls, polling."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from prominence.contract.states import TERMINAL


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[rank]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def client(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def timed_calls(
    make_client: Callable[[], httpx.Client], call: Callable[[httpx.Client, int], httpx.Response], clients: int, per_client: int
) -> list[float]:
    """Latencies (s) of `clients` threads each making `per_client` calls; any non-2xx is an error."""
    local = threading.local()
    latencies: list[float] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        if not hasattr(local, "client"):
            local.client = make_client()
        started = time.perf_counter()
        response = call(local.client, i)
        elapsed = time.perf_counter() - started
        if response.status_code >= 300:
            raise RuntimeError(f"{response.request.method} {response.request.url}: {response.status_code} {response.text}")
        with lock:
            latencies.append(elapsed)

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(work, range(clients * per_client)))
    return latencies


def wait_terminal(api: httpx.Client, job_id: int, timeout: float = 300, interval: float = 0.05) -> dict:
    """Poll describe until the job ends; returns the job with `_running_at` (perf_counter) if seen."""
    deadline = time.perf_counter() + timeout
    running_at = None
    while time.perf_counter() < deadline:
        job = api.get(f"/jobs/{job_id}").json()[0]
        if running_at is None and job["status"] in ("running", *TERMINAL):
            running_at = time.perf_counter()
        if job["status"] in TERMINAL:
            job["_running_at"] = running_at
            return job
        time.sleep(interval)
    raise TimeoutError(f"job {job_id} did not end within {timeout} s")
