"""The mechanics of one container run: start it in its own process group, wait for it within its
walltime, kill the group, and measure what it used.

The operator decides what to run and what the outcome means; this class only runs it (the
split of the Kubernetes provider's pod operator and pod manager). A run with an identity is
confined (`confine.py`): the job's uid, namespaces of its own, only the API's port on loopback.
A run is started at most once: `execution.py` records it, and a later try of the task
re-attaches to it (or takes its result) instead of starting it again. What runs beside a run
(the job's sidecars) is started by the `beside` callback in the run's network namespace, before
the run's command starts (and again by a try that re-attaches).
"""

from __future__ import annotations

import logging
import os
import select
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import astuple, dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from prominence.config import get_settings
from prominence.contract.namespace import read_record, write_record
from prominence.contract.sandbox import cap_log
from prominence.runtimes import execution
from prominence.runtimes.confine import MemoryLimit, Network, SharedNetwork, confined_argv, join
from prominence.runtimes.errors import file_lock
from prominence.runtimes.follow import OutputFollower
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
SHEPHERD = Path(__file__).with_name("shepherd.py")
# How often a wait looks at its run (a child of this process, or that of an earlier try).
POLL_SECONDS = 0.1
# Starts what runs beside a run in its network namespace (None: the run has none of its own).
Beside = Callable[[SharedNetwork | None], None]


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
    """Runs one `RunSpec` with its runtime; `kill` and `detach` may be called from any thread or a
    signal handler."""

    def __init__(self, runtime: Runtime, spec: RunSpec, logger: logging.Logger | None = None) -> None:
        self.runtime = runtime
        self.spec = spec
        self.log = logger or log
        self.execution = execution.Execution(spec.usage, execution.run_key(spec))
        self._process: subprocess.Popen | None = None
        self._pid = 0
        self._network: Network | None = None
        self._memory: MemoryLimit | None = None
        self._started = 0.0
        self._pump: threading.Thread | None = None
        self._stopped = False
        self._detached = threading.Event()

    @property
    def pid(self) -> int:
        """The run's first process (the shepherd), leader of its process group."""
        return self._pid

    def run(self, beside: Beside | None = None) -> RunResult | None:
        """Start the run, or re-attach to the one an earlier try started; None when this try let go
        of it (`detach`) or it ended without a result (stopped from outside): run it again.
        `beside` is called with the run's network namespace before its command starts, or when
        re-attaching to it; not when the run's result is taken."""
        attached = False
        with file_lock(self.execution.lock_file):
            record = self.execution.record()
            if record and record.get("key") != self.execution.key:
                record = None  # another run (another command) that used this usage file
            if record and not record.get("released", True):
                self.log.info("The run started at %s was never let go; starting it again", time.ctime(record["started"]))
                execution.abandon(record)
                record = None
            ended = self.execution.ended()
            if execution.running(record):
                self.log.info("Re-attaching to the run started at %s, pid %d", time.ctime(record["started"]), record["pid"])
                self._pid, self._started = record["pid"], record["started"]
                attached = True
            elif record and ended and not ended.get("interrupted"):
                self.log.info("Taking the result of the run started at %s", time.ctime(record["started"]))
                return self._result(ended)
            else:
                self.execution.clear()
                self.start(beside)
        if attached and beside is not None:
            beside(self._recorded_network())
        return self.wait()

    def start_afresh(self) -> None:
        """Start the run after ending what is left of an earlier one: a run beside another (a
        sidecar that a dead try started) is started again with it, never re-attached to."""
        with file_lock(self.execution.lock_file):
            record = self.execution.record()
            if record:
                execution.abandon(record)
            self.execution.clear()
            self.start()

    def _recorded_network(self) -> SharedNetwork | None:
        """The network namespace of the run an earlier try started, from its record for `exec`."""
        namespace = read_record(self.spec.namespace_record) if self.spec.namespace_record is not None else None
        try:
            return SharedNetwork.of(namespace.pid) if namespace is not None else None
        except OSError:
            return None  # it has just ended

    def start(self, beside: Beside | None = None) -> None:
        """Launch the container's command line in a new session, output appended to the sandbox's logs.

        The command line carries no secret (runtimes pass the container's variables in the
        environment), so it is logged as is.
        """
        argv, env = self.runtime.command_line(self.spec)
        identity = self.spec.identity
        if identity is not None:
            argv = confined_argv(argv, identity, self.spec.network)
        elif beside is not None:
            beside(None)  # no namespace to share: what runs beside it starts first
        if Path(GNU_TIME).exists():
            # Measured by GNU time so that the peak RSS is the task's, not that of this Python
            # process, which a child forked from it carries until it execs.
            argv = [GNU_TIME, "-q", "-f", "%M %U %S", "-o", str(self.spec.usage), "--", *argv]
        self.log.info("Running %s", shlex.join(argv))
        copy = self._open_copy()
        argv = [sys.executable, "-I", str(SHEPHERD), str(self.execution.exit_file), "--", *argv]
        self._started = time.time()
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
        self._pid = self._process.pid
        self.execution.started(self._pid, self._started, None, None, released=identity is None)
        if identity is not None:
            self._connect(identity, beside)
        network = self._network.pid if self._network is not None else None
        cgroup = self._memory.path if self._memory is not None else None
        self.execution.started(self._pid, self._started, network, cgroup)

    def _open_copy(self) -> int | None:
        """The task's `stdout` file, or None (none asked for, or it cannot be written: logged)."""
        if not self.spec.stdout_copy:
            return None
        try:
            return open_copy(self.spec.home, self.spec.stdout_copy, self.spec.identity)
        except OSError as exc:
            self.log.warning("Task stdout file %s not written: %s", self.spec.stdout_copy, exc)
            return None

    def _connect(self, identity: JobIdentity, beside: Beside | None) -> None:
        """Give the confined run its network (or check that it joined `spec.network`) and memory
        limit, start what runs beside it, then let it start; kill it if that fails."""
        try:
            if self.spec.network is not None:
                target = join(self._process.pid, self.spec.network)
            else:
                self._network = Network(identity, self.spec.forward_ports)
                target = self._network.attach(self._process.pid, self.spec.usage.with_name(self.spec.usage.name + ".net"))
            if self.spec.namespace_record is not None:
                write_record(self.spec.namespace_record, target)
            if self.spec.memory_mb:
                self._memory = MemoryLimit(self.spec.memory_mb, f"{identity.uid}-{self._process.pid}")
                self._memory.apply(self._process.pid)
            if beside is not None:
                beside(SharedNetwork.of(target))
            self._process.stdin.write(b"go\n")
            self._process.stdin.close()
        except Exception:
            _signal_group(self._process.pid, signal.SIGKILL)
            self._process.wait()
            if self._network is not None:
                self._network.close()
            raise

    def wait(self) -> RunResult | None:
        """Wait for the run (reaping it when this try started it), killing its group when the
        walltime budget is spent; None when detached or when it ended without a result."""
        budget = self.spec.walltime_seconds
        timer = threading.Timer(max(budget - (time.time() - self._started), 0.0), self._kill, kwargs={"timeout": True})
        timer.daemon = True
        timer.start()
        ended = threading.Event()
        streams = {"stdout": self.spec.stdout, "stderr": self.spec.stderr}
        token = self.spec.env.get("PROMINENCE_TOKEN", "")
        follower = OutputFollower(self.log, streams, get_settings().task_log_bytes, hidden=(token,))
        watcher = threading.Thread(target=self._cap_logs, args=(ended, follower), name="prominence-log-cap", daemon=True)
        watcher.start()
        try:
            status = self._reap() if self._process is not None else self._watch()
        finally:
            ended.set()
            timer.cancel()
        if status is None:
            return None
        if self.spec.namespace_record is not None:
            self.spec.namespace_record.unlink(missing_ok=True)
        if self._pump is not None:
            # Output still buffered in the pipe; a process the run left behind may hold it open.
            self._pump.join(KILL_GRACE_SECONDS)
        watcher.join()
        follower.close()
        self._cap_once()
        memory = None
        if self._process is not None:
            if self._network is not None:
                self._network.close()
            if self._memory is not None:
                memory = self._memory.usage()
                self._memory.remove()
        else:
            execution.release_leftovers(self.execution.record() or {})
        exit_code, wall, cpu, rss = status
        result = self.record(exit_code, wall, cpu, rss, timed_out=wall >= budget)
        if memory is not None:
            peak_kb = None if memory.peak_bytes is None else memory.peak_bytes // 1000
            result = replace(result, memory_exceeded=memory.oom_killed, max_memory_kb=peak_kb)
        self.execution.end(*astuple(result)[:4], timed_out=result.timed_out, interrupted=self._stopped and not result.timed_out)
        return None if self._stopped and not result.timed_out else result

    def _reap(self) -> tuple[int, float, float, int] | None:
        """The exit code and usage of our child, None once detached (it keeps running). Woken by
        the child's exit through a pidfd, not at the next poll: most runs of a short job end
        well within one POLL_SECONDS."""
        exited = os.pidfd_open(self._pid)
        try:
            while not self._detached.is_set():
                select.select([exited], [], [], POLL_SECONDS)
                pid, status, rusage = os.wait4(self._pid, os.WNOHANG)
                if pid:
                    # Reaped here, so Popen must not wait for it again.
                    self._process.returncode = os.waitstatus_to_exitcode(status)
                    cpu = rusage.ru_utime + rusage.ru_stime
                    return self._process.returncode, time.time() - self._started, cpu, rusage.ru_maxrss
        finally:
            os.close(exited)
        return None

    def _watch(self) -> tuple[int, float, float, int] | None:
        """The end of an earlier try's run, as its shepherd recorded it; None when detached or
        when nothing recorded it (the run's processes were killed outright)."""
        record = self.execution.record()
        while execution.running(record):
            if self._detached.wait(POLL_SECONDS):
                return None
        ended = self.execution.ended()
        if ended is None:
            self.log.warning("The run of pid %d ended without recording its exit", self._pid)
            return None
        self._stopped = self._stopped or ended["interrupted"]
        return ended["exitCode"], time.time() - self._started, ended["cpuSeconds"], ended["maxRssKb"]

    def _cap_logs(self, ended: threading.Event, follower: OutputFollower) -> None:
        """Copy new output into the task log and keep the stored logs within the cap while the
        run writes (it appends after each cut)."""
        while not ended.wait(LOG_CAP_SECONDS):
            follower.poll()
            self._cap_once()

    def _cap_once(self) -> None:
        limit = get_settings().max_log_bytes
        for path in (self.spec.stdout, self.spec.stderr):
            if cap_log(path, limit):
                self.log.warning("%s passed %d bytes and was cut", path.name, limit)

    def kill(self) -> None:
        """Stop the run: SIGTERM its process group now and SIGKILL it after a grace period.

        It returns at once: it runs in a signal handler (the task being stopped) while `wait`
        reaps the process.
        """
        self._kill(timeout=False)

    def detach(self) -> None:
        """Let go of the run, which keeps running: the task's next try re-attaches to it."""
        self._detached.set()

    def _kill(self, *, timeout: bool) -> None:
        if not self._pid:
            return
        self._stopped = self._stopped or not timeout
        pid = self._pid
        if self._process is None and not execution.running(self.execution.record()):
            return
        _signal_group(pid, signal.SIGTERM)
        timer = threading.Timer(KILL_GRACE_SECONDS, _signal_group, args=(pid, signal.SIGKILL))
        timer.daemon = True
        timer.start()

    def record(self, exit_code: int, wall: float, cpu: float, rss: int, *, timed_out: bool) -> RunResult:
        """The run's usage: GNU time's line where it wrote one (not when the run was killed), else
        the reaped child's own rusage."""
        try:
            measured_rss, user, system = self.spec.usage.read_text().split()[-3:]
            cpu, rss = float(user) + float(system), int(measured_rss)
        except (OSError, ValueError):
            pass
        return RunResult(exit_code, round(wall, 3), round(cpu, 3), rss, timed_out)

    def _result(self, ended: dict) -> RunResult:
        """An ended run's result as the try that watched its end wrote it."""
        result = self.record(ended["exitCode"], ended["wallSeconds"], ended["cpuSeconds"], ended["maxRssKb"], timed_out=False)
        return replace(result, timed_out=bool(ended.get("timedOut")))


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
