"""The watch on the LocalExecutor's workers, with real processes: a stand-in scheduler forks a
worker (and the worker a task runner), then is SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from prominence.scheduler import workers

SCHEDULER = textwrap.dedent(
    """
    import os, sys, threading, time, types
    from pathlib import Path
    from setproctitle import setproctitle
    from prominence.scheduler import idle, workers
    workers.WATCH_SECONDS = 0.1
    sys.modules[idle.SCHEDULER_MODULE] = types.ModuleType(idle.SCHEDULER_MODULE)
    workers.install()
    workers.install()
    here = Path(sys.argv[1])
    if os.fork() == 0:
        if os.fork() == 0:
            setproctitle(workers.WORKER_TITLE + ": <idle>")
            here.joinpath("runner").write_text(f"{os.getpid()} {threading.active_count()}")
            workers.install()  # a task runner starts a job of its own too (the listener's on_starting)
            if os.fork() == 0:
                here.joinpath("runner-child").write_text(str(threading.active_count()))
                os._exit(0)
            time.sleep(600)
        title = ": <idle>" if sys.argv[2] == "idle" else ": running job 1"
        setproctitle(workers.WORKER_TITLE + title)
        here.joinpath("worker").write_text(f"{os.getpid()} {threading.active_count()}")
        while not here.joinpath("done").exists():
            time.sleep(0.05)
        setproctitle(workers.WORKER_TITLE + ": <idle>")
        time.sleep(600)
    time.sleep(600)
    """
)


def started(tmp_path: Path, state: str) -> tuple[subprocess.Popen, dict[str, tuple[int, int]]]:
    scheduler = subprocess.Popen([sys.executable, "-c", SCHEDULER, str(tmp_path), state])
    deadline = time.monotonic() + 30
    while not all(tmp_path.joinpath(name).exists() for name in ("worker", "runner", "runner-child")):
        assert time.monotonic() < deadline, "the stand-in scheduler did not fork"
        time.sleep(0.05)
    time.sleep(0.1)
    found = {name: tuple(map(int, tmp_path.joinpath(name).read_text().split())) for name in ("worker", "runner")}
    return scheduler, found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_an_idle_worker_leaves_once_its_scheduler_is_killed(tmp_path):
    scheduler, found = started(tmp_path, "idle")
    (worker, worker_threads), (runner, runner_threads) = found["worker"], found["runner"]
    try:
        assert (worker_threads, runner_threads) == (2, 1)
        assert tmp_path.joinpath("runner-child").read_text() == "1"
        time.sleep(0.5)
        assert alive(worker)
        scheduler.kill()
        scheduler.wait()
        assert gone_within(worker, 5)
        assert alive(runner)
    finally:
        for pid in (worker, runner):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_busy_worker_carries_on_and_leaves_when_it_is_idle_again(tmp_path):
    scheduler, found = started(tmp_path, "busy")
    (worker, _), (runner, _) = found["worker"], found["runner"]
    try:
        scheduler.kill()
        scheduler.wait()
        time.sleep(1)
        assert alive(worker)
        tmp_path.joinpath("done").touch()
        assert gone_within(worker, 5)
    finally:
        for pid in (worker, runner):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_only_executor_workers_waiting_for_work_count_as_idle():
    assert workers.idle_worker("airflow worker -- LocalExecutor: <idle>")
    assert workers.idle_worker("airflow worker -- LocalExecutor [team]: <idle>")
    assert not workers.idle_worker("airflow worker -- LocalExecutor: prominence_job/run_1/task_0")
    assert not workers.idle_worker("airflow scheduler <idle>")


def test_outside_the_scheduler_nothing_is_watched(monkeypatch):
    monkeypatch.delitem(sys.modules, workers.SCHEDULER_MODULE, raising=False)
    workers.install()
    reader, writer = os.pipe()
    if os.fork() == 0:
        os.write(writer, str(threading.active_count()).encode())
        os._exit(0)
    os.close(writer)
    assert os.read(reader, 16) == b"1"
    os.close(reader)
