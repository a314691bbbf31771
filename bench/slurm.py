"""Slurm single-node as a peer of ours (bench/peers.py): Debian's slurm-wlm and munge installed by
the bench itself, a cluster of one node configured in a temp dir, slurmctld, slurmd and munged run
in the foreground for the measurement only, then stopped.

Two variants: Slurm's default scheduler settings, and TUNED, the SchedulerParameters of Slurm's
documentation for short jobs (slurm.conf(5), "High Throughput Computing" guide).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from bench.stack import free_port

# batch_sched_delay=0: a batch job is scheduled at once, not within 3 s of its submission;
# sched_min_interval=0: the event-triggered scheduler may run on every submit and every job end
# (2 µs apart by default); default_queue_depth=1000: a burst of 500 is looked at in one pass, not
# 100 jobs at a time; `defer` is left off (the default), since it delays each job to the next pass.
TUNED = "batch_sched_delay=0,sched_min_interval=0,default_queue_depth=1000"
PACKAGES = ("slurm-wlm", "munge")
ENDED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "PREEMPTED")


def install() -> str | None:
    """Install slurm-wlm and munge from the distribution if missing; None, or why they cannot be."""
    if all(shutil.which(tool) for tool in ("slurmctld", "slurmd", "sbatch", "munged", "mungekey")):
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "slurm-wlm is not installed and this is not root on a Debian-like system"
    done = subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES],
        env=os.environ | {"DEBIAN_FRONTEND": "noninteractive"},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        return f"apt-get install {' '.join(PACKAGES)} failed: {done.stderr.strip()[-300:]}"
    return None


def _memory_mb() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20 - 512


def config(directory: Path, scheduler_parameters: str | None) -> str:
    """slurm.conf of a one-node cluster: every core of this machine, no accounting."""
    lines = {
        "ClusterName": "bench",
        "SlurmctldHost": "localhost",
        "SlurmUser": "root",
        "SlurmctldPort": str(free_port()),
        "SlurmdPort": str(free_port()),
        "AuthType": "auth/munge",
        "CredType": "cred/munge",
        "AuthInfo": f"socket={directory / 'munge.socket'}",
        "StateSaveLocation": str(directory / "state"),
        "SlurmdSpoolDir": str(directory / "spool"),
        "SlurmctldPidFile": str(directory / "slurmctld.pid"),
        "SlurmdPidFile": str(directory / "slurmd.pid"),
        "SlurmctldLogFile": str(directory / "slurmctld.log"),
        "SlurmdLogFile": str(directory / "slurmd.log"),
        "ProctrackType": "proctrack/linuxproc",
        "TaskPlugin": "task/none",
        "SelectType": "select/cons_tres",
        "SelectTypeParameters": "CR_CPU",
        "MpiDefault": "none",
        "ReturnToService": "2",
        "AccountingStorageType": "accounting_storage/none",
        "JobAcctGatherType": "jobacct_gather/none",
        "JobCompType": "jobcomp/none",
        "SlurmctldDebug": "info",
        "SlurmdDebug": "info",
    }
    if scheduler_parameters:
        lines["SchedulerParameters"] = scheduler_parameters
    text = "".join(f"{key}={value}\n" for key, value in lines.items())
    text += f"NodeName=localhost CPUs={os.cpu_count() or 1} RealMemory={_memory_mb()} State=UNKNOWN\n"
    text += "PartitionName=bench Nodes=localhost Default=YES MaxTime=INFINITE State=UP\n"
    return text


class Cluster:
    """A running one-node cluster: submit jobs and read their states through its own slurm.conf."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.env = os.environ | {"SLURM_CONF": str(directory / "slurm.conf")}

    def tool(self, *argv: str) -> str:
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, check=True).stdout

    def submit(self, wrap: str) -> str:
        out = self.tool("sbatch", "--parsable", "-n1", "-o", "/dev/null", f"--chdir={self.directory}", "--wrap", wrap)
        return out.strip().split(";")[0]

    def state(self, job_id: str) -> str:
        out = self.tool("scontrol", "show", "job", "-o", job_id)
        return out.split("JobState=", 1)[1].split()[0] if "JobState=" in out else ""

    def states(self) -> dict[str, str]:
        """Job id → state of every job slurmctld still holds (ended ones for MinJobAge, 300 s)."""
        out = self.tool("squeue", "-h", "-a", "-t", "all", "-o", "%i %T")
        return dict(line.split() for line in out.splitlines() if line.strip())

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.tool("sinfo", "-h", "-o", "%t").strip() in ("idle", "mix", "alloc"):
                    return
            except subprocess.CalledProcessError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"the Slurm node did not come up; see {self.directory}/slurmctld.log and slurmd.log")


@contextmanager
def cluster(scheduler_parameters: str | None) -> Iterator[Cluster]:
    """munged, slurmctld and slurmd of a cluster of their own, stopped (SIGTERM) on the way out."""
    directory = Path(tempfile.mkdtemp(prefix="bench-slurm-"))
    for sub in ("state", "spool", "munge"):
        (directory / sub).mkdir()
    (directory / "slurm.conf").write_text(config(directory, scheduler_parameters))
    key = directory / "munge" / "munge.key"
    subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True, capture_output=True)
    key.chmod(0o400)
    munge = directory / "munge"
    daemons = [
        [
            "munged", "--foreground", "--force", f"--key-file={key}", f"--socket={directory / 'munge.socket'}",
            f"--pid-file={munge / 'munged.pid'}", f"--log-file={munge / 'munged.log'}", f"--seed-file={munge / 'seed'}",
        ],
        ["slurmctld", "-D", "-f", str(directory / "slurm.conf")],
        ["slurmd", "-D", "-N", "localhost", "-f", str(directory / "slurm.conf")],
    ]  # fmt: skip
    processes: list[subprocess.Popen] = []
    try:
        for argv in daemons:
            processes.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            time.sleep(1)
        running = Cluster(directory)
        running.wait_ready()
        yield running
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(directory, ignore_errors=True)


def wrap_of(argv: list[str], env: dict[str, str]) -> str:
    """The shell line of `sbatch --wrap`: the runtime's command line in exactly its environment."""
    return "exec " + shlex.join(["env", "-i", *(f"{k}={v}" for k, v in env.items()), *argv])


def one_job(slurm: Cluster, wrap: str, timeout: float = 300, interval: float = 0.05) -> float:
    """Seconds from `sbatch` to the job's COMPLETED state in `scontrol show job`."""
    started = time.perf_counter()
    job_id = slurm.submit(wrap)
    deadline = started + timeout
    while time.perf_counter() < deadline:
        state = slurm.state(job_id)
        if state in ENDED:
            if state != "COMPLETED":
                raise RuntimeError(f"Slurm job {job_id} ended {state}")
            return time.perf_counter() - started
        time.sleep(interval)
    raise TimeoutError(f"Slurm job {job_id} did not end within {timeout} s")


def burst(slurm: Cluster, wrap: str, jobs: int) -> dict:
    """`jobs` submitted at once (8 at a time, as ours are): jobs/min until the last one ends."""
    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(lambda _: slurm.submit(wrap), range(jobs)))
    ended: dict[str, str] = {}
    # Ended jobs leave squeue after MinJobAge (300 s), so each one's end is kept once seen.
    while len(ended) < len(ids):
        ended |= {job_id: state for job_id, state in slurm.states().items() if job_id in ids and state in ENDED}
        time.sleep(1)
    elapsed = time.perf_counter() - started
    return {
        "jobs": jobs,
        "elapsed_s": elapsed,
        "jobs_per_minute": jobs / elapsed * 60,
        "not_completed": sum(1 for state in ended.values() if state != "COMPLETED"),
    }
