#!/usr/bin/env python3
"""`make bench`: every benchmark against a freshly started embedded stack, one table of figures.

Each figure is printed with its target (docs/performance.md), a baseline measured in the same run and
the ratio; the results also go to bench/results/latest.json. Nothing here asserts a timing.

The workflow sweep sections are sized by BENCH_SWEEP_MEMBERS (default 200: a 10,000-member sweep
takes hours on a small machine, run `bench/workflow_sweep.py` for that) and
BENCH_SWEEP_ACCEPTED_MEMBERS (default 100,000, watched for 60 s then deleted); 0 skips either.
BENCH_EXECUTOR_JOBS (default 500; 0 skips) trivial jobs then run on stacks of their own with
LocalExecutor and with Celery (one worker, two workers), `bench/executors.py`. The fair-share
section (`bench/fairshare.py`) prints the late user's wait against the heavy user's as the ratio.
BENCH_CHAIN_LINKS (default 10; 0 skips) is the length of a linear workflow chain of `true` jobs
(`bench/workflow_chain.py`), its total and per-link figures against a lone job's submit → completed.
BENCH_SWEEP_BURST_JOBS (default 300; 0 skips) sizes a sweep and a burst run in turn on the same stack,
twice, the order swapped (`bench/sweep_vs_burst.py`): the sweep's completion rate against the burst's.
BENCH_CHAOS_JOBS (default 500; 0 skips) trivial jobs and a BENCH_SWEEP_MEMBERS sweep then run on a
stack of their own while a random component is SIGKILLed every 20 s for 5 minutes, `bench/chaos.py`.
An idle stack of its own (`bench/idle.py`; BENCH_IDLE=0 skips it) gives its CPU over 60 s, against
one core, and the times of `down` and of a warm `up`, against its cold `up`.
BENCH_PEERS_JOBS (default 500; 0 skips) is the burst of `bench/peers.py`: ours beside bare Airflow,
Slurm single-node (default and tuned; installed from Debian if missing) and the direct-runtime
floor, each with one job's submit → completed p50/p90 and the burst's jobs/min, and the ratios
ours/peer for the rate and peer/ours for latency.
BENCH_REST_POSTGRES_STORED (default 100,1000,10000; 0 skips) repeats the REST section at those
stored sizes on a PostgreSQL stack of its own (BENCH_POSTGRES_URL's server, a fresh database).
BENCH_REST_LOAD_JOBS (default 500; 0 skips) is the burst of `bench/rest_load.py`, REST under load:
10,000 stored, creates, describes and lists of 1,000 while the burst runs, on a fresh stack per
database of BENCH_REST_LOAD_DATABASES (default sqlite,postgresql).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import (  # noqa: E402
    chaos,
    executors,
    fairshare,
    idle,
    latency,
    memory,
    peers,
    rest,
    rest_load,
    sweep_vs_burst,
    throughput,
    workflow_chain,
    workflow_sweep,
)
from bench.stack import fresh_postgres_stack, fresh_stack  # noqa: E402

RESULTS = REPO / "bench" / "results" / "latest.json"
SWEEP_MEMBERS = int(os.environ.get("BENCH_SWEEP_MEMBERS", "200"))
SWEEP_ACCEPTED_MEMBERS = int(os.environ.get("BENCH_SWEEP_ACCEPTED_MEMBERS", "100000"))
EXECUTOR_JOBS = int(os.environ.get("BENCH_EXECUTOR_JOBS", str(executors.JOBS)))
SWEEP_BURST_JOBS = int(os.environ.get("BENCH_SWEEP_BURST_JOBS", str(sweep_vs_burst.JOBS)))
CHAOS_JOBS = int(os.environ.get("BENCH_CHAOS_JOBS", "500"))
CHAIN_LINKS = int(os.environ.get("BENCH_CHAIN_LINKS", str(workflow_chain.LINKS)))
IDLE = os.environ.get("BENCH_IDLE", "1") != "0"
PEERS_JOBS = int(os.environ.get("BENCH_PEERS_JOBS", str(peers.JOBS)))
REST_POSTGRES_STORED = tuple(int(n) for n in os.environ.get("BENCH_REST_POSTGRES_STORED", "100,1000,10000").split(",") if int(n))
REST_LOAD_JOBS = int(os.environ.get("BENCH_REST_LOAD_JOBS", str(rest_load.JOBS)))
REST_LOAD_DATABASES = tuple(os.environ.get("BENCH_REST_LOAD_DATABASES", ",".join(rest_load.DATABASES)).split(","))


def rest_rows(rest_results: list[dict], database: str = "") -> list[tuple[str, float, str, float, str]]:
    rows = []
    health = {r["stored"]: r for r in rest_results if r["call"] == "health (baseline)"}
    targets = {"create": ("≤ 50", "≤ 250"), "list active": ("≤ 100", "≤ 100"), "describe": ("≤ 100", "≤ 100"), "stdout": ("", "")}
    for r in rest_results:
        if r["call"] in targets:
            base, (p50_target, p99_target) = health[r["stored"]], targets[r["call"]]
            at = f"@ {r['stored']} stored{database}"
            rows.append((f"{r['call']} p50 {at}", r["p50_ms"], p50_target, base["p50_ms"], "ms"))
            rows.append((f"{r['call']} p99 {at}", r["p99_ms"], p99_target, base["p99_ms"], "ms"))
    return rows


def rows_of(results: dict) -> list[tuple[str, float, str, float, str]]:
    """(figure, value, target, baseline, unit) for the table."""
    rows = rest_rows(results["rest"])
    health = {r["stored"]: r for r in results["rest"] if r["call"] == "health (baseline)"}
    if "rest_postgres" in results:
        rows += rest_rows(results["rest_postgres"], " (PostgreSQL)")
    if "rest_load" in results:
        rows += rest_load.rows(results["rest_load"])
    for r in results["latency"]:
        target = "≤ 1.5" if r["what"] == "submit → running" else "≤ 2.5"
        rows.append((f"{r['what']} p50 ({r['runtime']})", r["p50_s"], target, r["direct_p50_s"], "s"))
        rows.append((f"{r['what']} p90 ({r['runtime']})", r["p90_s"], "", r["direct_p50_s"], "s"))
    t = results["throughput"]
    direct = next(r["direct_p50_s"] for r in results["latency"] if r["runtime"] == "singularity")
    rows.append(
        (f"throughput, {t['jobs']} trivial jobs", t["jobs_per_minute"], "≥ 100", 60 / direct * (os.cpu_count() or 1), "jobs/min")
    )
    rows.append((f"jobs not completed of {t['jobs']}", t["not_completed"], "0", 0, "jobs"))
    m = results["memory"]
    for name, mib in m["components_mib"].items():
        rows.append((f"idle PSS {name}", mib, "", m["bare_python_mib"], "MiB"))
    rows.append(("idle PSS whole stack", m["total_mib"], "≤ 1228.8", m["bare_python_mib"], "MiB"))
    if "workflow_sweep" in results:
        s = results["workflow_sweep"]
        label = f"sweep of {s['members']}"
        rows.append((f"{label}: member release rate", s["release_per_minute"], "", t["jobs_per_minute"], "jobs/min"))
        rows.append((f"{label}: completion rate", s["completion_per_minute"], "", t["jobs_per_minute"], "jobs/min"))
        rows.append((f"{label}: most members idle", s["max_idle"], "≤ 20", 20, "jobs"))
        rows.append((f"{label}: peak PSS whole stack", s["peak_pss_mib"], "", s["idle_pss_mib"], "MiB"))
    if "sweep_vs_burst" in results:
        rows += sweep_vs_burst.rows(results["sweep_vs_burst"])
    if "workflow_sweep_accepted" in results:
        a = results["workflow_sweep_accepted"]
        label = f"sweep of {a['members']} (60 s)"
        rows.append((f"{label}: submit", a["submit_ms"], "", health[max(health)]["p50_ms"], "ms"))
        rows.append((f"{label}: members released", a["released"], "> 0", 0, "jobs"))
        rows.append((f"{label}: most members idle", a["max_idle"], "≤ 20", 20, "jobs"))
        rows.append((f"{label}: describe p50", a["describe_p50_ms"], "", health[max(health)]["p50_ms"], "ms"))
        rows.append((f"{label}: peak PSS whole stack", a["peak_pss_mib"], "", a["idle_pss_mib"], "MiB"))
    if "workflow_chain" in results:
        c = results["workflow_chain"]
        label, lone = f"chain of {c['links']} `true`", c["lone_job_p50_s"]
        rows.append((f"{label}: total", c["total_s"], "< 15", c["links"] * lone, "s"))
        rows.append((f"{label}: per link", c["per_link_s"], "", lone, "s"))
        rows.append((f"{label}: parent end → child released p50", c["released_p50_s"], "≤ 1", lone, "s"))
        rows.append((f"{label}: parent end → child running p50", c["running_p50_s"], "", lone, "s"))
    if "fairshare" in results:
        f = results["fairshare"]
        label = f"fair share, {f['late_jobs']} late behind {f['heavy_jobs']}"
        rows.append((f"{label}: late user's wait", f["late_wait_s"], "", f["heavy_wait_s"], "s"))
        rows.append((f"{label}: heavy jobs started by then", f["heavy_started_by_then"], "", 0, "jobs"))
    local = results.get("executors", {}).get("LocalExecutor")
    for name, r in results.get("executors", {}).items():
        rows.append((f"{name}: throughput, {r['jobs']} jobs", r["jobs_per_minute"], "", local["jobs_per_minute"], "jobs/min"))
        rows.append((f"{name}: submit → completed p50", r["latency_p50_s"], "", local["latency_p50_s"], "s"))
        rows.append((f"{name}: submit → completed p90", r["latency_p90_s"], "", local["latency_p90_s"], "s"))
    if "idle" in results:
        i = results["idle"]
        running = next(r["p50_s"] for r in results["latency"] if r["what"] == "submit → running")
        rows.append(("idle stack: CPU (60 s)", i["cpu_total_percent"], "≤ 5", 100, "% core"))
        rows.append(("idle stack: PSS", i["pss_total_mib"], "≤ 1024", m["bare_python_mib"], "MiB"))
        rows.append(("idle stack: stack.py down", i["down_s"], "≤ 10", i["cold_up_s"], "s"))
        rows.append(("idle stack: stack.py up (warm)", i["up_s"], "≤ 20", i["cold_up_s"], "s"))
        rows.append(("idle stack: submit → running p50", i["submit_to_running_p50_s"], "", running, "s"))
    if "chaos" in results:
        c = results["chaos"]
        label = f"chaos, {c['accepted']} jobs, {c['kills']} kills"
        rows.append((f"{label}: lost", c["lost"], "0", 0, "jobs"))
        rows.append((f"{label}: duplicated", c["duplicated"], "0", 0, "jobs"))
        rows.append((f"{label}: worst recovery", c["worst_recovery_s"], "≤ 60", 60, "s"))
    if "peers" in results:
        rows += peers.rows_of(results["peers"])
    return rows


def print_table(rows) -> None:
    print(f"{'figure':44} {'value':>10} {'unit':8} {'target':>10} {'baseline':>10} {'ratio':>8}")
    for figure, value, target, baseline, unit in rows:
        ratio = value / baseline if baseline else float("nan")
        print(f"{figure:44} {value:10.2f} {unit:8} {target:>10} {baseline:10.2f} {ratio:8.2f}")


def main() -> None:
    started = time.time()
    with fresh_stack() as stack:
        results = {"memory": memory.run(stack)}
        results["latency"] = latency.run(stack)
        results["rest"] = rest.run(stack)
        results["throughput"] = throughput.run(stack)
        results["fairshare"] = fairshare.run(stack)
        if CHAIN_LINKS:
            results["workflow_chain"] = workflow_chain.run(stack, CHAIN_LINKS)
        if SWEEP_MEMBERS:
            results["workflow_sweep"] = workflow_sweep.run(stack, SWEEP_MEMBERS)
        if SWEEP_BURST_JOBS:
            results["sweep_vs_burst"] = sweep_vs_burst.run(stack, SWEEP_BURST_JOBS)
        if SWEEP_ACCEPTED_MEMBERS:
            results["workflow_sweep_accepted"] = workflow_sweep.accepted(stack, SWEEP_ACCEPTED_MEMBERS)
    if IDLE:
        results["idle"] = idle.run()
    if EXECUTOR_JOBS:
        results["executors"] = executors.run(EXECUTOR_JOBS)
    if REST_POSTGRES_STORED:
        with fresh_postgres_stack() as stack:
            results["rest_postgres"] = rest.run(stack, REST_POSTGRES_STORED)
    if REST_LOAD_JOBS:
        results["rest_load"] = rest_load.run_all(REST_LOAD_JOBS, REST_LOAD_DATABASES)
    if CHAOS_JOBS:
        with fresh_stack() as stack:
            results["chaos"] = chaos.run(stack, CHAOS_JOBS, SWEEP_MEMBERS, every=20, duration=300)
    if PEERS_JOBS:
        results["peers"] = peers.run(PEERS_JOBS)
    results["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    results["seconds"] = time.time() - started
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print_table(rows_of(results))
    if "peers" in results:
        print()
        peers.print_summary(results["peers"])
    print(
        f"\n(baselines: GET /health for REST, the same command run directly in the runtime for job latency "
        f"and throughput, a bare Python interpreter for memory; results in {RESULTS.relative_to(REPO)})"
    )


if __name__ == "__main__":
    main()
