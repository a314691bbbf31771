"""Ours beside its peers in the same run: bare Airflow, Slurm single-node (default and tuned) and
the direct-runtime floor, each measured on one `true` job at a time (submit → completed p50/p90)
and on N submitted at once (jobs/min until the last ends).

    bench/peers.py [N]        (N defaults to 500; `make bench` takes BENCH_PEERS_JOBS)

- ours: `true` jobs through our REST API on a fresh stack;
- bare Airflow: on another fresh stack of ours (same settings, same `prominence` pool), a DAG of
  one BashOperator `true`, its runs triggered and watched through Airflow's own /api/v2;
- Slurm: bench/slurm.py, every job the same apptainer command line as our singularity runtime's;
- floor: that command line run directly, one at a time, then nproc at a time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import executors, slurm  # noqa: E402
from bench.latency import prepared_command  # noqa: E402
from bench.measure import client, median, percentile, wait_terminal  # noqa: E402
from bench.stack import fresh_stack  # noqa: E402

JOBS = 500
SINGLES = 20
BARE_DAG_ID = "bench_bare_true"
# In the stack's own workflows bundle (a folder of its home the dag-processor re-reads every
# second), not the repository's dags/ folder, which every stack run from this tree shares.
BARE_DAG = textwrap.dedent(
    f'''
    """Bare Airflow for bench/peers.py: one BashOperator `true` in the pool our jobs run in."""
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG

    with DAG(dag_id="{BARE_DAG_ID}", schedule=None, catchup=False, max_active_runs=100000, max_active_tasks=100000):
        BashOperator(task_id="true", bash_command="true", pool="prominence")
    '''
)
RUN_ENDED = ("success", "failed")


def latencies(one, runs: int = SINGLES) -> dict:
    seconds = [one() for _ in range(runs)]
    return {"runs": runs, "p50_s": median(seconds), "p90_s": percentile(seconds, 90)}


def ours(stack, jobs: int) -> dict:
    api = client(stack.url, stack.token("peers"))
    body = {"resources": {"cpus": 1, "memory": 1}, "tasks": [{"image": stack.sample_image, "cmd": "true"}]}

    def one() -> float:
        started = time.perf_counter()
        job = wait_terminal(api, api.post("/jobs", json=body).json()["id"])
        if job["status"] != "completed":
            raise RuntimeError(f"job {job['id']} ended {job['status']}")
        return time.perf_counter() - started

    result = latencies(one)
    burst = executors.run_jobs(stack, jobs)
    return result | {k: burst[k] for k in ("jobs", "jobs_per_minute", "not_completed")}


def airflow_api(stack) -> httpx.Client:
    """/api/v2 as the stack's admin, with a JWT from Airflow's own `POST /auth/token`."""
    base = stack.env["AIRFLOW__API__BASE_URL"]
    secrets = dict(line.split("=", 1) for line in (stack.home / "secrets.env").read_text().splitlines() if "=" in line)
    login = httpx.post(f"{base}/auth/token", json={"username": "admin", "password": secrets["PROMINENCE_ADMIN_PASSWORD"]})
    login.raise_for_status()
    token = login.json()["access_token"]
    return httpx.Client(base_url=f"{base}/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=60)


def bare_airflow(stack, jobs: int) -> dict:
    (stack.home / "workflows").mkdir(exist_ok=True)
    (stack.home / "workflows" / f"{BARE_DAG_ID}.py").write_text(BARE_DAG)
    api = airflow_api(stack)
    deadline = time.monotonic() + 120
    while api.get(f"/dags/{BARE_DAG_ID}").status_code != 200:
        if time.monotonic() > deadline:
            raise TimeoutError(f"Airflow did not parse {BARE_DAG_ID} within 120 s")
        time.sleep(0.5)
    api.patch(f"/dags/{BARE_DAG_ID}", json={"is_paused": False}).raise_for_status()

    errors = []

    def trigger(client: httpx.Client) -> str:
        """A new run; a 5xx (SQLite busy past its 30 s timeout, seen under load) is retried."""
        for attempt in range(5):
            response = client.post(f"/dags/{BARE_DAG_ID}/dagRuns", json={"logical_date": None})
            if response.status_code < 500 or attempt == 4:
                break
            errors.append(response.status_code)
        response.raise_for_status()
        return response.json()["dag_run_id"]

    def one() -> float:
        started = time.perf_counter()
        run_id = trigger(api)
        while (state := api.get(f"/dags/{BARE_DAG_ID}/dagRuns/{run_id}").json()["state"]) not in RUN_ENDED:
            time.sleep(0.05)
        if state != "success":
            raise RuntimeError(f"bare Airflow run {run_id} ended {state}")
        return time.perf_counter() - started

    result = latencies(one)
    runs = f"/dags/{BARE_DAG_ID}/dagRuns"
    started = time.perf_counter()
    # One client triggering in turn: 8 at once made Airflow's SQLite writers time out (500s).
    for _ in range(jobs):
        trigger(api)
    while api.get(runs, params={"state": ["queued", "running"], "limit": 1}).json()["total_entries"]:
        time.sleep(1)
    elapsed = time.perf_counter() - started
    # A retried trigger may have made its run after all: every run of the burst is counted.
    created = api.get(runs, params={"limit": 1}).json()["total_entries"] - result["runs"]
    succeeded = api.get(runs, params={"state": "success", "limit": 1}).json()["total_entries"] - result["runs"]
    return result | {
        "jobs": created,
        "jobs_per_minute": created / elapsed * 60,
        "not_completed": created - succeeded,
        "trigger_errors": len(errors),
    }


def floor(argv: list[str], env: dict[str, str], jobs: int) -> dict:
    def one() -> float:
        started = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
        return time.perf_counter() - started

    result = latencies(one)
    started = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(lambda _: one(), range(jobs)))
    return result | {"jobs": jobs, "jobs_per_minute": jobs / (time.perf_counter() - started) * 60, "not_completed": 0}


def slurm_variant(wrap: str, jobs: int, scheduler_parameters: str | None) -> dict:
    with slurm.cluster(scheduler_parameters) as cluster:
        result = latencies(lambda: slurm.one_job(cluster, wrap))
        burst = slurm.burst(cluster, wrap, jobs)
    return result | {k: burst[k] for k in ("jobs", "jobs_per_minute", "not_completed")}


def run(jobs: int = JOBS) -> dict:
    results = {}
    with fresh_stack() as stack:
        results["ours"] = ours(stack, jobs)
        print("ours", json.dumps(results["ours"]), flush=True)
    with fresh_stack() as stack:
        results["bare Airflow"] = bare_airflow(stack, jobs)
        print("bare Airflow", json.dumps(results["bare Airflow"]), flush=True)
        # The SIF is pulled into a sandbox outside the stack's home: it outlives the stack.
        rt, prepared, argv, env = prepared_command(stack.env, "singularity", stack.sample_image, ("true",))
    results["floor"] = floor(argv, env, jobs)
    print("floor", json.dumps(results["floor"]), flush=True)
    why_not = slurm.install()
    if why_not:
        results["slurm_skipped"] = why_not
        print(f"Slurm skipped: {why_not}", flush=True)
    else:
        wrap = slurm.wrap_of(argv, env)
        for name, parameters in (("Slurm default", None), ("Slurm tuned", slurm.TUNED)):
            results[name] = slurm_variant(wrap, jobs, parameters)
            print(name, json.dumps(results[name]), flush=True)
    rt.cleanup(prepared)
    results["slurm_tuned_parameters"] = slurm.TUNED
    results["load_average"] = os.getloadavg()
    return results


def rows_of(results: dict) -> list[tuple[str, float, str, float, str]]:
    """(figure, value, target, baseline, unit) for run.py's table: ours against each peer, the
    ratio ours/peer for the rate, peer/ours for latency (above 1 is ours better, both ways)."""
    rows = []
    mine = results["ours"]
    peers = [name for name in ("bare Airflow", "Slurm default", "Slurm tuned", "floor") if name in results]
    for name in peers:
        peer = results[name]
        target = "≥ 1.25" if name in ("bare Airflow", "Slurm tuned") else ""
        rows.append((f"peers: {name} jobs/min, ours/peer", mine["jobs_per_minute"], target, peer["jobs_per_minute"], "jobs/min"))
        # The value is the peer's and the baseline ours, so that the ratio reads peer/ours.
        rows.append(
            (f"peers: {name} p50 s, peer/ours", peer["p50_s"], "> 1" if name == "Slurm tuned" else "", mine["p50_s"], "s")
        )
        rows.append((f"peers: {name} p90 s, peer/ours", peer["p90_s"], "", mine["p90_s"], "s"))
    return rows


def print_summary(results: dict) -> None:
    print(f"{'system':16} {'p50 s':>7} {'p90 s':>7} {'jobs/min':>9} {'failed':>7} {'rate ours/peer':>15} {'p50 peer/ours':>14}")
    mine = results["ours"]
    for name in ("ours", "bare Airflow", "Slurm default", "Slurm tuned", "floor"):
        if name in results:
            r = results[name]
            ratios = f"{mine['jobs_per_minute'] / r['jobs_per_minute']:15.2f} {r['p50_s'] / mine['p50_s']:14.2f}"
            print(f"{name:16} {r['p50_s']:7.2f} {r['p90_s']:7.2f} {r['jobs_per_minute']:9.1f} {r['not_completed']:7} {ratios}")
    print(f"(Slurm tuned: SchedulerParameters={results['slurm_tuned_parameters']}; load average {results['load_average']})")


if __name__ == "__main__":
    outcome = run(int(sys.argv[1]) if len(sys.argv) > 1 else JOBS)
    print_summary(outcome)
