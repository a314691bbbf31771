"""What supervisord cannot do for the stack: find, and end, every process the stack left behind.

Which processes are ours is decided by session, not by pid alone: pid files go stale and pids are
reused (pid_max is 32768 here), and Airflow runs each task in a process group of its own, so
supervisord's killasgroup does not reach a task that outlived its scheduler; it stays in
supervisord's session, though. That session is recorded in `run/sessions` as
(pid, start time, boot id); a process is ours if it is in such a session, or carries MARKER in its
environment (which catches descendants that called setsid, unless they overwrote their
environment with setproctitle as the api-server does).
"""

from __future__ import annotations

import ctypes
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MARKER = "PROMINENCE_STACK_HOME"
PR_SET_CHILD_SUBREAPER = 36
BOOT_ID = Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def proc_stat(pid: int) -> tuple[int, int, int] | None:
    """(parent pid, session id, start time in clock ticks) of a live, non-zombie process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in "ZX" else (int(fields[1]), int(fields[3]), int(fields[19]))


def record_session(run_dir: Path, pid: int) -> None:
    """Remember a session leader we started, so its whole session can be swept later."""
    stat = proc_stat(pid)
    if stat is not None:
        with open(run_dir / "sessions", "a") as f:
            f.write(f"{pid} {stat[2]} {BOOT_ID}\n")


def sessions(run_dir: Path) -> dict[int, int]:
    """Recorded session leaders of this boot: pid -> start ticks."""
    try:
        lines = (run_dir / "sessions").read_text().split("\n")
    except OSError:
        return {}
    rows = [line.split() for line in lines]
    return {int(r[0]): int(r[1]) for r in rows if len(r) == 3 and r[2] == BOOT_ID}


def read_pid(pid_file: Path) -> int | None:
    """The pid in `pid_file` if that very process (not a reuse of its pid) is still running."""
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return None
    stat = proc_stat(pid)
    return pid if stat is not None and sessions(pid_file.parent).get(pid) == stat[2] else None


def stack_processes(run_dir: Path, home: Path) -> dict[int, int]:
    """Every live process of the stack (pid -> start ticks), except this process and its ancestors.

    Ours: members of a recorded session, carriers of MARKER, and all their descendants (apptainer's
    runtime parent calls setsid and clears the environment, yet is a child of a task process).
    """
    table: dict[int, tuple[int, int, int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := proc_stat(int(entry.name))) is not None:
            table[int(entry.name)] = stat
    mine, pid = set(), os.getpid()
    while pid in table:
        mine.add(pid)
        pid = table[pid][0]
    leaders = sessions(run_dir)
    # A recorded session whose leader's pid now belongs to a newer process is someone else's.
    live = {sid for sid, start in leaders.items() if sid not in table or table[sid][2] == start}
    marker = f"{MARKER}={home}".encode()

    def is_root(pid: int, sid: int, start: int) -> bool:
        if sid in live and start >= leaders[sid]:
            return True
        try:
            return marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            return False

    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    todo = [pid for pid, (_, sid, start) in table.items() if is_root(pid, sid, start)]
    found: dict[int, int] = {}
    while todo:
        pid = todo.pop()
        if pid not in found:
            found[pid] = table[pid][2]
            todo.extend(children.get(pid, []))
    return {pid: start for pid, start in found.items() if pid not in mine}


def wait_until(done: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


@dataclass(frozen=True)
class Swept:
    """What a sweep found left of the stack (pid -> command line), and how each of them ended."""

    found: dict[int, str]
    terminated: list[int]
    killed: list[int]
    survivors: list[int]

    def lines(self) -> list[str]:
        """The report a user reads: nothing when nothing was left."""
        if not self.found:
            return []
        out = [f"{len(self.found)} process(es) of the stack were still running after it stopped:"]
        out += [f"  {pid} {command}" for pid, command in sorted(self.found.items())]
        out.append(f"ended by SIGTERM: {len(self.terminated)}, killed by SIGKILL: {len(self.killed)}")
        if self.survivors:
            out.append(f"still running: {self.survivors}")
        return out


def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def sweep(run_dir: Path, home: Path, seen: dict[int, int]) -> Swept:
    """Terminate, then kill, every process left of the stack; say which were found and how each ended.

    `seen` is a snapshot taken before stopping: processes whose parents died since were
    reparented to init and can no longer be found as descendants.
    """

    def left() -> list[int]:
        now = stack_processes(run_dir, home)
        survivors = {pid for pid, start in seen.items() if (stat := proc_stat(pid)) and stat[2] == start}
        return sorted(survivors | now.keys())

    found = {pid: command_of(pid) for pid in left()}
    for pid in found:
        kill(pid, signal.SIGTERM)
    killed: list[int] = []
    if not wait_until(lambda: not left(), 5):
        killed = left()
        for pid in killed:
            kill(pid, signal.SIGKILL)
        wait_until(lambda: not left(), 5)
    survivors = left()
    if not survivors:
        (run_dir / "sessions").unlink(missing_ok=True)
    terminated = [pid for pid in found if pid not in killed]
    return Swept(found, terminated, [pid for pid in killed if pid not in survivors], survivors)


LIBC = ctypes.CDLL(None, use_errno=True)


def become_subreaper() -> None:
    """Run in supervisord's process before it execs (the flag survives execve): orphans of the
    components (a task's container after its worker was killed) are reparented to supervisord
    instead of init, so they stay findable as the stack's descendants (supervisord reaps them)."""
    LIBC.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
