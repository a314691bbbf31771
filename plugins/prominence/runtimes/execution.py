"""The execution record of one container run, next to its usage file in the job's sandbox.

HTCondor's job lease, for a task instance that Airflow runs again while its container still
runs (its scheduler died and the task was reset as orphaned, or its heartbeat was lost): the
record says which process runs the container (pid, start time, boot) and, once it has ended,
how (written by `shepherd.py`, or by whichever try watched the end). The new try re-attaches
to a live run or takes an ended run's result instead of starting the container again; only a
run that was stopped from outside, that left no result, or that was never let go (a confined run
whose starter died before telling it to go: its command never ran), starts again. Every write is atomic
(temporary file, then rename): tries of one task read these files while another writes them.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prominence.runtimes.errors import file_lock
from prominence.runtimes.spec import NO_SOURCE, ImageSource

if TYPE_CHECKING:
    # The runtimes import this module through process.py; it needs their classes for types only.
    from prominence.runtimes.base import PullResult, Runtime
    from prominence.runtimes.identity import JobIdentity
    from prominence.runtimes.spec import RunSpec

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@dataclass(frozen=True)
class Execution:
    """The record files of the run whose GNU time output goes to `usage`; `key` tells that run
    from another one that used the same file."""

    usage: Path
    key: str = ""

    @property
    def record_file(self) -> Path:
        return self.usage.with_name(self.usage.name + ".run.json")

    @property
    def exit_file(self) -> Path:
        return self.usage.with_name(self.usage.name + ".exit.json")

    @property
    def lock_file(self) -> Path:
        """Held while a try decides whether to start the run, so that two tries never both do."""
        return self.usage.with_name(self.usage.name + ".lock")

    def started(self, pid: int, started: float, network: int | None, cgroup: Path | None, *, released: bool = True) -> None:
        """`released`: the run's command was let go; a confined run waits for its starter's word
        first, and one whose starter died before saying it never ran its command."""
        record = {"key": self.key, "pid": pid, "ticks": start_ticks(pid), "boot": boot_id(), "started": started}
        record.update(network=network and {"pid": network, "ticks": start_ticks(network)}, cgroup=cgroup and str(cgroup))
        write_atomic(self.record_file, record | {"released": released})

    def record(self) -> dict[str, Any] | None:
        return read_json(self.record_file)

    def ended(self) -> dict[str, Any] | None:
        return read_json(self.exit_file)

    def end(self, exit_code: int, wall: float, cpu: float, rss: int, *, timed_out: bool, interrupted: bool) -> None:
        """The result as the try that watched the end saw it (it knows a walltime kill from a stop)."""
        result = {"exitCode": exit_code, "wallSeconds": wall, "cpuSeconds": cpu, "maxRssKb": rss}
        write_atomic(self.exit_file, result | {"timedOut": timed_out, "interrupted": interrupted})

    def clear(self) -> None:
        """Forget the run: the next start is a new run (a retry the job's policy asks for)."""
        self.exit_file.unlink(missing_ok=True)
        self.record_file.unlink(missing_ok=True)


def run_key(spec: RunSpec) -> str:
    """What one run is: its image and command (a later try of the task runs the same)."""
    what = [spec.image.runtime, spec.image.target, spec.command, spec.workdir]
    return hashlib.sha256(json.dumps(what).encode()).hexdigest()[:16]


def pull_once(
    runtime: Runtime, image: str, sandbox: Path, identity: JobIdentity | None, source: ImageSource = NO_SOURCE
) -> PullResult:
    """`runtime.pull`, one try of the job's tasks at a time: a try that runs while the previous
    one still pulls waits and reuses its image (two concurrent apptainer pulls of one image read
    each other's half-written cache: "unexpected end of JSON input")."""
    with file_lock(Path(sandbox) / "images" / ".pull.lock"):
        return runtime.pull(image, sandbox, identity, source)


def running(record: dict[str, Any] | None) -> bool:
    """The recorded process is alive: the same boot, pid and start time (a reused pid is not it)."""
    return bool(record) and record.get("boot") == boot_id() and is_process(record["pid"], record["ticks"])


def is_process(pid: int, ticks: int | None) -> bool:
    return ticks is not None and start_ticks(pid) == ticks


def start_ticks(pid: int) -> int | None:
    """The start time of a live, non-zombie process in clock ticks since boot, None if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in "ZX" else int(fields[19])


def abandon(record: dict[str, Any], timeout: float = 5.0) -> None:
    """End a run that was never let go (it only waits for its dead starter's word), and its
    leftovers, so that the run can start afresh."""
    if running(record):
        try:
            os.killpg(record["pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while running(record) and time.monotonic() < deadline:
            time.sleep(0.05)
    release_leftovers(record)


def release_leftovers(record: dict[str, Any]) -> None:
    """End the network helper and remove the memory cgroup of a run whose starter is gone."""
    network = record.get("network")
    if network and is_process(network["pid"], network["ticks"]):
        try:
            os.kill(network["pid"], signal.SIGTERM)
        except ProcessLookupError:
            pass
    if record.get("cgroup"):
        try:
            Path(record["cgroup"]).rmdir()
        except OSError:
            pass


def boot_id() -> str:
    return BOOT_ID.read_text().strip()


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_atomic(path: Path, value: Any) -> None:
    """Write JSON to a temporary file of this thread, then rename it over `path`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(value))
    tmp.replace(path)
