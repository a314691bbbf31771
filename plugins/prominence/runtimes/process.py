"""The mechanics of one container run: start it in its own process group, wait for it within its
walltime, kill the group, and measure what it used.

The operator decides what to run and what the outcome means; this class only runs it (the
split of the Kubernetes provider's pod operator and pod manager). A run with an identity is
confined (`confine.py`): the job's uid, namespaces of its own, only the API's port on loopback.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from prominence.config import get_settings
from prominence.contract.namespace import write_record
from prominence.contract.sandbox import cap_log
from prominence.runtimes.confine import MemoryLimit, Network, confined_argv
from prominence.runtimes.identity import JobIdentity
from prominence.runtimes.spec import RunSpec
from prominence.runtimes.tee import open_copy, start_pump

if TYPE_CHECKING:
    # base.py builds a ProcessManager in Runtime.manager; this module needs the class for its type only.
    from prominence.runtimes.base import Runtime

log = logging.getLogger(__name__)

KILL_GRACE_SECONDS = 5
# How often a running task's logs are cut back to the stored cap (PROMINENCE_MAX_LOG_BYTES).
LOG_CAP_SECONDS = 1.0
GNU_TIME = "/usr/bin/time"


@dataclass(frozen=True)
class RunResult:
    """How a run ended. `exit_code` is negative for a signal; `timed_out` when the walltime ran out;
    `memory_exceeded` when the kernel killed a process of it for its memory limit; `max_memory_kb`
    its memory cgroup's peak in units of 1000 bytes (spec §13.6), None without a cgroup."""

    exit_code: int
    wall_seconds: float
    cpu_seconds: float
    max_rss_kb: int
    timed_out: bool
    memory_exceeded: bool = False
    max_memory_kb: int | None = None


class ProcessManager:
    """Runs one `RunSpec` with its runtime; `kill` may be called from any thread or a signal handler."""

    def __init__(self, runtime: Runtime, spec: RunSpec, logger: logging.Logger | None = None) -> None:
        self.runtime = runtime
        self.spec = spec
        self.log = logger or log
        self._process: subprocess.Popen | None = None
        self._network: Network | None = None
        self._memory: MemoryLimit | None = None
        self._started = 0.0
        self._pump: threading.Thread | None = None

    @property
    def pid(self) -> int:
        """The run's first process, leader of its process group."""
        return self._process.pid

    def run(self) -> RunResult:
        self.start()
        return self.wait()

    def start(self) -> None:
        """Launch the container's command line in a new session, output appended to the sandbox's logs.

        The command line carries no secret (runtimes pass the container's variables in the
        environment), so it is logged as is.
        """
        argv, env = self.runtime.command_line(self.spec)
        identity = self.spec.identity
        if identity is not None:
            argv = confined_argv(argv, identity)
        if Path(GNU_TIME).exists():
            # Measured by GNU time so that the peak RSS is the task's, not that of this Python
            # process, which a child forked from it carries until it execs.
            argv = [GNU_TIME, "-q", "-f", "%M %U %S", "-o", str(self.spec.usage), "--", *argv]
        self.log.info("Running %s", shlex.join(argv))
        copy = self._open_copy()
        self._started = time.monotonic()
        with self.spec.stdout.open("ab") as out, self.spec.stderr.open("ab") as err:
            self._process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL if identity is None else subprocess.PIPE,
                stdout=out if copy is None else subprocess.PIPE,
                stderr=err if copy is None else subprocess.STDOUT,
                env=env,
                cwd=None if identity is None else self.spec.home,
                start_new_session=True,
            )
        if copy is not None:
            self._pump = start_pump(self._process.stdout, self.spec.stdout, copy)
        if identity is not None:
            self._connect(identity)

    def _open_copy(self) -> int | None:
        """The task's `stdout` file, or None (none asked for, or it cannot be written: logged)."""
        if not self.spec.stdout_copy:
            return None
        try:
            return open_copy(self.spec.home, self.spec.stdout_copy, self.spec.identity)
        except OSError as exc:
            self.log.warning("Task stdout file %s not written: %s", self.spec.stdout_copy, exc)
            return None

    def _connect(self, identity: JobIdentity) -> None:
        """Give the confined run its network and memory limit, then let it start; kill it if that fails."""
        self._network = Network(identity, self.spec.forward_ports)
        try:
            target = self._network.attach(self._process.pid, self.spec.usage.with_name(self.spec.usage.name + ".net"))
            if self.spec.namespace_record is not None:
                write_record(self.spec.namespace_record, target)
            if self.spec.memory_mb:
                self._memory = MemoryLimit(self.spec.memory_mb, f"{identity.uid}-{self._process.pid}")
                self._memory.apply(self._process.pid)
            self._process.stdin.write(b"go\n")
            self._process.stdin.close()
        except Exception:
            _signal_group(self._process.pid, signal.SIGKILL)
            self._process.wait()
            raise

    def wait(self) -> RunResult:
        """Reap the process, killing its group when the walltime budget is spent."""
        budget = self.spec.walltime_seconds
        timer = threading.Timer(budget, self.kill)
        timer.daemon = True
        timer.start()
        ended = threading.Event()
        threading.Thread(target=self._cap_logs, args=(ended,), name="prominence-log-cap", daemon=True).start()
        _, status, rusage = os.wait4(self._process.pid, 0)
        ended.set()
        timer.cancel()
        if self.spec.namespace_record is not None:
            self.spec.namespace_record.unlink(missing_ok=True)
        if self._pump is not None:
            # Output still buffered in the pipe; a process the run left behind may hold it open.
            self._pump.join(KILL_GRACE_SECONDS)
        self._cap_once()
        if self._network is not None:
            self._network.close()
        memory = self._memory.usage() if self._memory is not None else None
        if self._memory is not None:
            self._memory.remove()
        wall = time.monotonic() - self._started
        # Reaped here, so Popen must not wait for it again.
        self._process.returncode = os.waitstatus_to_exitcode(status)
        result = self.record(self._process.returncode, wall, rusage, timed_out=wall >= budget)
        if memory is None:
            return result
        peak_kb = None if memory.peak_bytes is None else memory.peak_bytes // 1000
        return replace(result, memory_exceeded=memory.oom_killed, max_memory_kb=peak_kb)

    def _cap_logs(self, ended: threading.Event) -> None:
        """Keep the stored logs within the cap while the run writes (it appends after each cut)."""
        while not ended.wait(LOG_CAP_SECONDS):
            self._cap_once()

    def _cap_once(self) -> None:
        limit = get_settings().max_log_bytes
        for path in (self.spec.stdout, self.spec.stderr):
            if cap_log(path, limit):
                self.log.warning("%s passed %d bytes and was cut", path.name, limit)

    def kill(self) -> None:
        """SIGTERM the process group now and SIGKILL it after a grace period.

        It returns at once: it runs in a signal handler (the task being stopped) and in the
        walltime timer, while `wait` reaps the process.
        """
        if self._process is None:
            return
        pid = self._process.pid
        _signal_group(pid, signal.SIGTERM)
        timer = threading.Timer(KILL_GRACE_SECONDS, _signal_group, args=(pid, signal.SIGKILL))
        timer.daemon = True
        timer.start()

    def record(self, exit_code: int, wall: float, rusage, *, timed_out: bool) -> RunResult:
        """The run's usage: GNU time's line where it wrote one (not when the run was killed), else
        the reaped child's own rusage."""
        cpu, rss = rusage.ru_utime + rusage.ru_stime, rusage.ru_maxrss
        try:
            measured_rss, user, system = self.spec.usage.read_text().split()[-3:]
            cpu, rss = float(user) + float(system), int(measured_rss)
        except (OSError, ValueError):
            pass
        return RunResult(exit_code, round(wall, 3), round(cpu, 3), rss, timed_out)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


@lru_cache(maxsize=1)
def cpu_info() -> dict[str, str]:
    """execution.cpu (spec §4.2): what lscpu would say of this worker's processor."""
    fields = {"vendor_id": "vendor", "model name": "model", "cpu MHz": "clock"}
    found: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in fields and fields[key.strip()] not in found:
                found[fields[key.strip()]] = value.strip()
    except OSError:
        pass
    return found
