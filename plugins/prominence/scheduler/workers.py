"""The LocalExecutor's workers leave when their scheduler is gone and they have nothing to run.

Each worker waits for work on a pipe whose writing end every worker holds too (they are forked
from the scheduler), so a scheduler killed with SIGKILL never sends them end of file, and the
signal handlers they inherit ignore SIGTERM: its idle workers stayed for good (about 150 MB each)
and `down` waited its grace before it killed them. A worker busy with a task must carry on (the
task reports through the api-server, not the scheduler), so the watch ends only a worker that is
both orphaned and idle, one that is busy once it returns to waiting.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time

from prominence.scheduler.idle import SCHEDULER_MODULE

WATCH_SECONDS = 1.0
WORKER_TITLE = "airflow worker -- LocalExecutor"
IDLE_TITLE = "<idle>"


def idle_worker(title: str) -> bool:
    """Whether a process title is that of a LocalExecutor worker waiting for work."""
    return title.startswith(WORKER_TITLE) and title.endswith(IDLE_TITLE)


def watch(parent: int, title, seconds: float = WATCH_SECONDS) -> None:
    """Return once the process that forked this one is gone while `title()` says it is idle."""
    while os.getppid() == parent or not idle_worker(title()):
        time.sleep(seconds)


def leave_when_orphaned(parent: int) -> None:
    # setproctitle is Airflow's own dependency; it loads only in the children of the scheduler.
    from setproctitle import getproctitle

    watch(parent, getproctitle)
    os._exit(0)


def install() -> None:
    """In the scheduler's process, watch each process it forks (the executor's workers)."""
    if SCHEDULER_MODULE in sys.modules:
        _watch_children()


@functools.cache
def _watch_children() -> None:
    """Once per process tree: the task runners the workers fork load the scheduler's module too
    and start their own jobs, but they inherit this as done, so their children are not watched."""
    scheduler = os.getpid()

    def after_in_child() -> None:
        if os.getppid() == scheduler:
            threading.Thread(target=leave_when_orphaned, args=(scheduler,), daemon=True).start()

    os.register_at_fork(after_in_child=after_in_child)
