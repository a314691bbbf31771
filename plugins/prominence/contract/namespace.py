"""Where a running task's namespaces are: written by the worker when a confined run starts, read
by the api-server to run `exec` and snapshot commands in them (spec §6.8, §6.9).

The record names the run's `unshare` (the first process in its namespaces) with its start time and the machine's boot
id, so a pid reused by another process, or a record of a run on another machine (Celery workers
elsewhere), is never taken for the job's.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@dataclass(frozen=True)
class RunningNamespace:
    pid: int
    uid: int


def _start_time(pid: int) -> str:
    """Field 22 of /proc/<pid>/stat (after the command name, which may hold spaces)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]


def write_record(path: Path, pid: int) -> None:
    """Record `pid` (0600, the stack's: the job cannot point the api-server at another process)."""
    record = {"pid": pid, "start": _start_time(pid), "boot": BOOT_ID.read_text().strip()}
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(record))
    tmp.replace(path)


def read_record(path: Path) -> RunningNamespace | None:
    """The recorded process if it still runs on this machine, with the uid it runs as."""
    try:
        record = json.loads(path.read_text())
        if record["boot"] != BOOT_ID.read_text().strip() or record["start"] != _start_time(record["pid"]):
            return None
        status = Path(f"/proc/{record['pid']}/status").read_text()
    except (OSError, ValueError, KeyError, IndexError):
        return None
    uid = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("Uid:"))
    return RunningNamespace(pid=int(record["pid"]), uid=uid)
