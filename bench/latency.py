"""Submit → running and submit → completed of one-task `echo` jobs on an idle stack, per runtime,
against the same command run directly in the same runtime in the same run."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from bench.measure import client, median, percentile, wait_terminal

JOBS = 20
RUNTIMES = ("singularity", "udocker")


def prepared_command(env: dict[str, str], runtime: str, image: str, command: tuple[str, ...]):
    """(runtime, prepared image, argv, env) of `command` as our runtime module runs it, the image
    pulled into a sandbox of its own; bench/peers.py gives Slurm and the floor the same command."""
    os.environ.update(env)
    # Imported once the stack's env is in os.environ: the package reads its settings on first use.
    from prominence.runtimes import RunSpec, get_runtime

    rt = get_runtime(runtime)
    sandbox = Path(tempfile.mkdtemp(prefix="bench-direct-"))
    (sandbox / "home").mkdir()
    (sandbox / "tmp").mkdir()
    prepared = rt.pull(image, sandbox)
    spec = RunSpec(
        image=prepared, command=command, env={}, workdir="/home/user", home=sandbox / "home",
        tmp=sandbox / "tmp", stdout=sandbox / "stdout", stderr=sandbox / "stderr", usage=sandbox / "usage",
        walltime_seconds=60,
    )  # fmt: skip
    argv, run_env = rt.command_line(spec)
    return rt, prepared, argv, run_env


def direct(env: dict[str, str], runtime: str, image: str, runs: int = JOBS) -> list[float]:
    """Seconds of `echo` run straight through our runtime module (image already pulled)."""
    rt, prepared, argv, run_env = prepared_command(env, runtime, image, ("echo", "hi"))
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, env=run_env, stdout=subprocess.DEVNULL, check=True)
        seconds.append(time.perf_counter() - started)
    rt.cleanup(prepared)
    return seconds


def run(stack) -> list[dict]:
    api = client(stack.url, stack.token("latency"))
    rows = []
    for runtime in RUNTIMES:
        body = {
            "resources": {"cpus": 1, "memory": 1},
            "tasks": [{"image": stack.sample_image, "runtime": runtime, "cmd": "echo hi"}],
        }
        to_running, to_completed = [], []
        for _ in range(JOBS):
            started = time.perf_counter()
            job = wait_terminal(api, api.post("/jobs", json=body).json()["id"])
            assert job["status"] == "completed", job
            to_running.append(job["_running_at"] - started)
            to_completed.append(time.perf_counter() - started)
        baseline = direct(stack.env, runtime, stack.sample_image)
        for name, values in (("submit → running", to_running), ("submit → completed", to_completed)):
            rows.append(
                {
                    "runtime": runtime,
                    "what": name,
                    "p50_s": median(values),
                    "p90_s": percentile(values, 90),
                    "direct_p50_s": median(baseline),
                }
            )
    return rows
