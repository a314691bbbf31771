#!/usr/bin/env python3
"""What an idle stack costs: CPU (% of one core over IDLE_SECONDS) and PSS per component, the
time of `stack.py down` and of a warm `stack.py up`, and submit → running of trivial jobs (so a
saving bought with latency shows).

    bench/idle.py [BASELINE_TREE]

With BASELINE_TREE (say, a checkout of main), the same is measured on that tree's stack in the
same run, and each figure is printed beside it with the ratio. Nothing here asserts a timing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.measure import client, median, wait_terminal  # noqa: E402
from bench.memory import descendants, pss_kib  # noqa: E402
from bench.stack import fresh_stack  # noqa: E402

# Past the executor's idle trim (PROMINENCE_IDLE_WORKER_SECONDS, 30 s): the workers it reaps
# bring the CPU of their whole life (the warm-up jobs' task processes) into the scheduler's count.
SETTLE_SECONDS = 40
IDLE_SECONDS = 60
JOBS = 10
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid: int) -> int:
    """utime + stime of the process and of its children it has reaped."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return sum(int(f) for f in fields[11:15])


def component_pids(home: Path) -> dict[str, list[int]]:
    """Each component's process tree; supervisord and what else it runs (the pid-file listener)
    count as `supervisor`."""
    pids = {f.stem: int(f.read_text()) for f in (home / "run").glob("*.pid")}
    supervisor = pids.pop("supervisor")
    trees = {name: descendants(pid) for name, pid in pids.items()}
    owned = {p for tree in trees.values() for p in tree}
    trees["supervisor"] = [p for p in descendants(supervisor) if p not in owned]
    return trees


def idle_cpu(home: Path, seconds: float = IDLE_SECONDS) -> dict[str, float]:
    """% of one core per component over `seconds`, counting processes alive at both ends."""
    before = {name: {p: cpu_ticks(p) for p in tree} for name, tree in component_pids(home).items()}
    started = time.monotonic()
    time.sleep(seconds)
    after = {name: {p: cpu_ticks(p) for p in tree} for name, tree in component_pids(home).items()}
    elapsed = time.monotonic() - started
    result = {}
    for name, ticks in after.items():
        spent = sum(t - before.get(name, {}).get(p, t) for p, t in ticks.items())
        result[name] = 100 * spent / TICKS / elapsed
    return result


def idle_pss(home: Path) -> dict[str, float]:
    return {name: sum(pss_kib(p) for p in tree) / 1024 for name, tree in component_pids(home).items()}


def submit_to_running(stack, jobs: int = JOBS) -> float:
    api = client(stack.url, stack.token("idle"))
    body = {"resources": {"cpus": 1, "memory": 1}, "tasks": [{"image": stack.sample_image, "cmd": "echo hi"}]}
    seconds = []
    for _ in range(jobs):
        started = time.perf_counter()
        job = wait_terminal(api, api.post("/jobs", json=body).json()["id"])
        assert job["status"] == "completed", job
        seconds.append(job["_running_at"] - started)
    return median(seconds)


def timed(stack, command: str) -> float:
    started = time.perf_counter()
    stack.stack_py(command)
    return time.perf_counter() - started


def run(tree: Path = REPO, python: str = sys.executable) -> dict:
    """Every figure of the stack of `tree`, started with `python` (its own venv's)."""
    started = time.perf_counter()
    with fresh_stack(stack_py=(python, str(tree / "scripts" / "stack.py"))) as stack:
        cold_up = time.perf_counter() - started
        submit_to_running(stack, 2)  # the image pulled and every code path warm, once
        time.sleep(SETTLE_SECONDS)
        cpu = idle_cpu(stack.home)
        pss = idle_pss(stack.home)
        latency = submit_to_running(stack)
        down = timed(stack, "down")
        up = timed(stack, "up")
    return {
        "cpu_percent": cpu,
        "cpu_total_percent": sum(cpu.values()),
        "pss_mib": pss,
        "pss_total_mib": sum(pss.values()),
        "down_s": down,
        "up_s": up,
        "cold_up_s": cold_up,
        "submit_to_running_p50_s": latency,
    }


def rows_of(result: dict, baseline: dict | None) -> list[tuple[str, float, str, float, str]]:
    """(figure, value, target, baseline, unit), the baseline 0 when there is none."""
    base = baseline or {"cpu_percent": {}, "pss_mib": {}}
    rows = [(f"idle CPU {name}", v, "", base["cpu_percent"].get(name, 0), "% core") for name, v in result["cpu_percent"].items()]
    rows.append(("idle CPU whole stack", result["cpu_total_percent"], "≤ 5", base.get("cpu_total_percent", 0), "% core"))
    rows += [(f"idle PSS {name}", v, "", base["pss_mib"].get(name, 0), "MiB") for name, v in result["pss_mib"].items()]
    rows.append(("idle PSS whole stack", result["pss_total_mib"], "≤ 1024", base.get("pss_total_mib", 0), "MiB"))
    rows.append(("stack.py down", result["down_s"], "≤ 10", base.get("down_s", 0), "s"))
    rows.append(("stack.py up (warm)", result["up_s"], "≤ 20", base.get("up_s", 0), "s"))
    rows.append(("submit → running p50", result["submit_to_running_p50_s"], "", base.get("submit_to_running_p50_s", 0), "s"))
    return rows


def main() -> None:
    # bench/run.py imports this module: its table printer is imported once both are loaded.
    from bench.run import print_table

    baseline = None
    if len(sys.argv) > 1:
        tree = Path(sys.argv[1]).resolve()
        baseline = run(tree, str(tree / ".venv" / "bin" / "python"))
        commit = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        print(f"baseline: {tree} at {commit.stdout.strip()}")
    print_table(rows_of(run(), baseline))


if __name__ == "__main__":
    main()
