"""Process mechanics of the stack: start components in their own sessions, restart the ones
that die, stop them with killpg, and find every process the stack left behind.

Which processes are ours is decided by session, not by pid alone: pid files go stale and pids are
reused (pid_max is 32768 here), and Airflow runs each task in a process group of its own, so
killing the component groups does not reach a task that outlived its scheduler; it stays in the
component's session, though. Every session we start is recorded in `run/sessions` as
(pid, start time, boot id); a process is ours if it is in such a session, or carries MARKER in its
environment (which catches descendants that called setsid, unless they overwrote their
environment with setproctitle as the api-server does).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

MARKER = "PROMINENCE_STACK_HOME"
STOP_GRACE = 15.0
STABLE_AFTER = 60.0
MAX_BACKOFF = 60.0
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


def signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def wait_until(done: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def stop_groups(pgids: list[int], reap: Callable[[], object] = lambda: None) -> None:
    """SIGTERM each process group, wait up to STOP_GRACE for all members, then SIGKILL the rest.

    `reap` collects our own exited children, whose zombies would otherwise keep a group alive.
    """
    for pgid in pgids:
        signal_group(pgid, signal.SIGTERM)

    def all_gone() -> bool:
        reap()
        return not any(group_alive(pgid) for pgid in pgids)

    if not wait_until(all_gone, STOP_GRACE):
        for pgid in pgids:
            signal_group(pgid, signal.SIGKILL)
        wait_until(all_gone, 5)


def kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def sweep(run_dir: Path, home: Path, seen: dict[int, int], reap: Callable[[], object] = lambda: None) -> list[int]:
    """Terminate, then kill, every process left of the stack; return the survivors.

    `seen` is a snapshot taken before stopping: processes whose parents died since were
    reparented to init and can no longer be found as descendants.
    """

    def left() -> list[int]:
        reap()
        now = stack_processes(run_dir, home)
        survivors = {pid for pid, start in seen.items() if (stat := proc_stat(pid)) and stat[2] == start}
        return sorted(survivors | now.keys())

    for pid in left():
        kill(pid, signal.SIGTERM)
    if not wait_until(lambda: not left(), 5):
        for pid in left():
            kill(pid, signal.SIGKILL)
        wait_until(lambda: not left(), 5)
    survivors = left()
    if not survivors:
        (run_dir / "sessions").unlink(missing_ok=True)
    return survivors


def spawn(argv: list[str], log: Path, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    """Start `argv` in a new session (its own process group), appending its output to `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def log(message: str) -> None:
    print(f"{time.strftime('%F %T')} {message}", flush=True)


def reap(procs: dict[str, subprocess.Popen]) -> None:
    """Collect every exited child, adopted orphans included, and note our components' codes.

    As a subreaper we must wait for any child, so Popen.poll() is never used: it would find its
    child already reaped by us.
    """
    by_pid = {p.pid: p for p in procs.values()}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid in by_pid:
            by_pid[pid].returncode = os.waitstatus_to_exitcode(status)


def become_subreaper() -> None:
    """Orphans of our components (a task's container after its worker was killed) are reparented
    to us instead of init, so they stay findable as the stack's descendants."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        log(f"prctl(PR_SET_CHILD_SUBREAPER) failed: {os.strerror(ctypes.get_errno())}")


def supervise(commands: dict[str, list[str]], home: Path, run_dir: Path, log_dir: Path) -> None:
    """Keep every command running until SIGTERM, restarting one that exits with backoff.

    The backoff doubles from 1 s up to MAX_BACKOFF and resets once a component has stayed up for
    STABLE_AFTER, so a crash loop (say, a broken plugin) does not spin the CPU. On SIGTERM, stop
    the components, then every process they left behind.
    """
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    become_subreaper()
    env = dict(os.environ)
    procs: dict[str, subprocess.Popen] = {}
    started: dict[str, float] = {}
    failures = dict.fromkeys(commands, 0)
    not_before = dict.fromkeys(commands, 0.0)
    while not stopping:
        reap(procs)
        now = time.monotonic()
        for name, argv in commands.items():
            proc = procs.get(name)
            if proc is not None:
                if proc.returncode is None:
                    if now - started[name] > STABLE_AFTER:
                        failures[name] = 0
                    continue
                failures[name] += 1
                delay = min(MAX_BACKOFF, 2.0 ** (failures[name] - 1))
                log(f"{name} exited with {proc.returncode}; restarting in {delay:.0f} s")
                signal_group(proc.pid, signal.SIGKILL)  # orphans it left in its group, e.g. executor workers
                del procs[name]
                not_before[name] = now + delay
            if now >= not_before[name] and not stopping:
                procs[name] = spawn(argv, log_dir / f"{name}.log", env, home)
                record_session(run_dir, procs[name].pid)
                started[name] = now
                (run_dir / f"{name}.pid").write_text(f"{procs[name].pid}\n")
                log(f"started {name} pid {procs[name].pid}")
        time.sleep(0.2)
    log("stopping")
    # The scheduler first, while the api-server still answers: its running tasks are told to
    # stop and report back, so their jobs run again after the next `up` instead of failing.
    if "scheduler" in procs:
        stop_groups([procs["scheduler"].pid], reap=lambda: reap(procs))
    stop_groups([p.pid for p in procs.values()], reap=lambda: reap(procs))
    for name in commands:
        (run_dir / f"{name}.pid").unlink(missing_ok=True)
    survivors = sweep(run_dir, home, {}, reap=lambda: reap(procs))
    log(f"stopped; still running: {survivors}" if survivors else "stopped")
