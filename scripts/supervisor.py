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
BOOT_ID = Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def proc_stat(pid: int) -> tuple[int, int] | None:
    """(session id, start time in clock ticks) of a live, non-zombie process, else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in "ZX" else (int(fields[3]), int(fields[19]))


def record_session(run_dir: Path, pid: int) -> None:
    """Remember a session leader we started, so its whole session can be swept later."""
    stat = proc_stat(pid)
    if stat is not None:
        with open(run_dir / "sessions", "a") as f:
            f.write(f"{pid} {stat[1]} {BOOT_ID}\n")


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
    return pid if stat is not None and sessions(pid_file.parent).get(pid) == stat[1] else None


def stack_pids(run_dir: Path, home: Path) -> list[int]:
    """Every live process of the stack, except this process and its ancestors."""
    mine, pid = set(), os.getpid()
    while pid > 1:
        mine.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    leaders = sessions(run_dir)
    # A recorded session whose leader's pid now belongs to a newer process is someone else's.
    ours = {sid for sid, start in leaders.items() if (stat := proc_stat(sid)) is None or stat[1] == start}
    marker = f"{MARKER}={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        pid = int(entry.name)
        stat = proc_stat(pid)
        if stat is None:
            continue
        sid, start = stat
        if sid in ours and start >= leaders[sid]:
            found.append(pid)
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(pid)
        except OSError:
            pass
    return found


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


def sweep(run_dir: Path, home: Path) -> list[int]:
    """Terminate, then kill, every process left of the stack; return the survivors."""
    for pid in stack_pids(run_dir, home):
        kill(pid, signal.SIGTERM)
    if not wait_until(lambda: not stack_pids(run_dir, home), 5):
        for pid in stack_pids(run_dir, home):
            kill(pid, signal.SIGKILL)
        wait_until(lambda: not stack_pids(run_dir, home), 5)
    survivors = stack_pids(run_dir, home)
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


def supervise(commands: dict[str, list[str]], run_dir: Path, log_dir: Path, cwd: Path) -> None:
    """Keep every command running until SIGTERM, restarting one that exits with backoff.

    The backoff doubles from 1 s up to MAX_BACKOFF and resets once a component has stayed up for
    STABLE_AFTER, so a crash loop (say, a broken plugin) does not spin the CPU.
    """
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    env = dict(os.environ)
    procs: dict[str, subprocess.Popen] = {}
    started: dict[str, float] = {}
    failures = dict.fromkeys(commands, 0)
    not_before = dict.fromkeys(commands, 0.0)
    while not stopping:
        now = time.monotonic()
        for name, argv in commands.items():
            proc = procs.get(name)
            if proc is not None:
                if proc.poll() is None:
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
                procs[name] = spawn(argv, log_dir / f"{name}.log", env, cwd)
                record_session(run_dir, procs[name].pid)
                started[name] = now
                (run_dir / f"{name}.pid").write_text(f"{procs[name].pid}\n")
                log(f"started {name} pid {procs[name].pid}")
        time.sleep(0.2)
    log("stopping")
    stop_groups([p.pid for p in procs.values()], reap=lambda: [p.poll() for p in procs.values()])
    for name in commands:
        (run_dir / f"{name}.pid").unlink(missing_ok=True)
    log("stopped")
