#!/usr/bin/env python3
"""A parameter sweep of N trivial members against a burst of N trivial jobs, on one stack.

    bench/sweep_vs_burst.py [N] [--rounds R]

Each round runs both, one after the other, the order swapped every round (whichever runs first
on a fresh stack is the slower); it prints the completion rate of each (jobs/min from the
submission to the last end), the ratio sweep/burst (the target is at least 1) and the CPU each
spent per job: the whole machine's (`/proc/stat`) and each component's (the process supervisord
runs, with its reaped children). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import throughput  # noqa: E402
from bench.idle import TICKS, cpu_ticks  # noqa: E402
from bench.measure import client, median  # noqa: E402
from bench.stack import fresh_stack  # noqa: E402
from bench.workflow_sweep import sweep  # noqa: E402
from prominence.contract.states import TERMINAL  # noqa: E402

JOBS = 300
ROUNDS = 2
USER = "sweepburst"


def process_cpu_s(pid: int) -> float:
    return cpu_ticks(pid) / TICKS


def machine_cpu_s() -> float:
    user, nice, system, _idle, _iowait, irq, softirq = map(int, Path("/proc/stat").read_text().split()[1:8])
    return (user + nice + system + irq + softirq) / TICKS


def components(stack) -> dict[str, int]:
    found = {}
    for pid_file in (stack.home / "run").glob("*.pid"):
        try:
            found[pid_file.stem] = int(pid_file.read_text())
        except ValueError:
            continue
    return found


def measured(stack, work, jobs: int) -> dict:
    pids = components(stack)
    before = {name: process_cpu_s(pid) for name, pid in pids.items()}
    machine, started = machine_cpu_s(), time.perf_counter()
    work()
    elapsed = time.perf_counter() - started
    return {
        "per_minute": jobs / elapsed * 60,
        "machine_cpu_ms": 1000 * (machine_cpu_s() - machine) / jobs,
        "cpu_ms": {name: 1000 * (process_cpu_s(pid) - before[name]) / jobs for name, pid in pids.items()},
    }


def swept(stack, token: str, members: int) -> None:
    api = client(stack.url, token)
    workflow_id = api.post("/workflows", json=sweep(stack.sample_image, members)).json()["id"]
    while api.get(f"/workflows/{workflow_id}").json()[0]["status"] not in TERMINAL:
        time.sleep(1)


def run(stack, jobs: int = JOBS, rounds: int = ROUNDS) -> dict:
    token = stack.token(USER)
    kinds = {"burst": lambda: throughput.run(stack, jobs), "sweep": lambda: swept(stack, token, jobs)}
    runs = []
    for round_ in range(rounds):
        for kind in ("burst", "sweep") if round_ % 2 == 0 else ("sweep", "burst"):
            runs.append({"kind": kind, "round": round_, **measured(stack, kinds[kind], jobs)})
            print("sweep_vs_burst", json.dumps(runs[-1]), flush=True)
    rate = {kind: median([r["per_minute"] for r in runs if r["kind"] == kind]) for kind in kinds}
    return {"jobs": jobs, "runs": runs, "sweep_per_minute": rate["sweep"], "burst_per_minute": rate["burst"]}


def rows(result: dict) -> list[tuple[str, float, str, float, str]]:
    """(figure, value, target, baseline, unit) for bench/run.py's table: the sweep against the burst."""
    label = f"sweep of {result['jobs']} vs burst"
    out = [(f"{label}: completion rate (median)", result["sweep_per_minute"], "≥ 1×", result["burst_per_minute"], "jobs/min")]
    for r in result["runs"]:
        out.append((f"{label}: round {r['round']} {r['kind']}, machine CPU per job", r["machine_cpu_ms"], "", 0, "ms"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("jobs", nargs="?", type=int, default=JOBS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    with fresh_stack() as stack:
        result = run(stack, args.jobs, args.rounds)
    for r in result["runs"]:
        spent = ", ".join(f"{name} {ms:.0f}" for name, ms in sorted(r["cpu_ms"].items(), key=lambda item: -item[1]) if ms >= 1)
        print(
            f"round {r['round']} {r['kind']:5}: {r['per_minute']:7.1f} jobs/min, CPU per job {r['machine_cpu_ms']:.0f} ms ({spent})"
        )
    for figure, value, target, baseline, unit in rows(result):
        ratio = value / baseline if baseline else float("nan")
        print(f"{figure:60} {value:10.2f} {unit:8} {target:>5} {baseline:10.2f} {ratio:6.2f}")


if __name__ == "__main__":
    main()
