"""Confinement of one container run: the job's uid, namespaces of its own, user-mode networking.

The runtime's command runs as the job's uid (`setpriv`, no supplementary groups, no new
privileges) inside fresh user, PID, IPC, mount and network namespaces (`unshare`): it sees no
process but its own and no host network. `pasta` (Debian's `passt`) then gives that network
namespace outbound connectivity through the host's sockets, with only the chosen host loopback
ports (the API's) forwarded into it: the stack's other loopback services (registry, database,
S3 server) are not reachable, and neither is the gateway's address mapped to the host
(`--no-map-gw`). The command waits on its stdin until the network is up.

A run beside another (a job's sidecar beside its task) joins that run's network namespace
instead (`nsenter --net`, as root, before dropping to the job's uid): what one serves on
localhost the other reaches, while user, PID, IPC and mount namespaces stay each run's own and
the namespace's network (pasta, forwarded ports) stays that of the run that made it.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from prominence.runtimes.errors import RuntimeNotAvailableError
from prominence.runtimes.identity import JobIdentity, as_identity

# The namespace's first process waits for the go on stdin, then runs the runtime with /dev/null
# instead. It stays the namespace's init (no exec): a SIGTERM to the run's process group reaches
# the runtime then, while an init ignores it; when the init ends, the kernel kills what is left.
WAIT_FOR_NETWORK = 'read -r _ && "$@" </dev/null'
NETWORK_TIMEOUT = 10.0
CGROUP_ROOT = Path("/sys/fs/cgroup")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SharedNetwork:
    """The network namespace of a running run, for another run to join: the process whose
    namespace it is and the namespace's id (`net:[inode]`), which tells it from that of a
    process that reused the pid."""

    pid: int
    namespace: str

    @classmethod
    def of(cls, pid: int) -> SharedNetwork:
        return cls(pid, os.readlink(f"/proc/{pid}/ns/net"))


def confined_argv(argv: list[str], identity: JobIdentity, network: SharedNetwork | None = None) -> list[str]:
    """`argv` run as `identity` in namespaces of its own (but the network namespace of `network`,
    when given); it starts once `Network.attach` (or `join`) is done.

    `--kill-child` takes the namespace down with its `unshare`.
    """
    joined = ["nsenter", f"--net=/proc/{network.pid}/ns/net", "--"] if network is not None else []
    return [
        *joined,
        *as_identity(identity),
        "unshare",
        f"--map-user={identity.uid}",
        f"--map-group={identity.gid}",
        *(["--net"] if network is None else []),
        "--pid",
        "--fork",
        "--kill-child",
        "--mount-proc",
        "--ipc",
        "--",
        "sh",
        "-c",
        WAIT_FOR_NETWORK,
        "sh",
        *argv,
    ]


class Network:
    """A `pasta` process attached to a run's network namespace, ended with the run."""

    def __init__(self, identity: JobIdentity, ports: tuple[int, ...]) -> None:
        self.identity = identity
        self.ports = ports
        self._pasta: subprocess.Popen | None = None

    def attach(self, launcher: int, log_path: Path) -> int:
        """Find the namespace below `launcher` (the run's first process), connect it, wait until
        it has its default route; raise when that does not happen within NETWORK_TIMEOUT.
        Returns the namespace's first process."""
        pasta = shutil.which("pasta")
        if pasta is None:
            raise RuntimeNotAvailableError("pasta is not installed (Debian package passt, scripts/install-system.sh)")
        deadline = time.monotonic() + NETWORK_TIMEOUT
        target = _namespaced_descendant(launcher, deadline)
        forwarded = ",".join(str(p) for p in self.ports) or "none"
        argv = [pasta, "--foreground", "--quiet", "--runas", f"{self.identity.uid}:{self.identity.gid}"]
        argv += ["--config-net", "--no-map-gw", "-t", "none", "-u", "none", "-U", "none", "-T", forwarded, str(target)]
        with log_path.open("ab") as log:
            self._pasta = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        while not _has_default_route(target):
            if self._pasta.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"pasta could not connect the job's network namespace (see {log_path})")
            time.sleep(0.01)
        return target

    @property
    def pid(self) -> int | None:
        """pasta's pid, recorded so that a later try can end it once the run is over."""
        return self._pasta.pid if self._pasta is not None else None

    def close(self) -> None:
        if self._pasta is not None and self._pasta.poll() is None:
            self._pasta.send_signal(signal.SIGTERM)
            try:
                self._pasta.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._pasta.kill()
                self._pasta.wait()


def join(launcher: int, network: SharedNetwork) -> int:
    """Find the namespaces below `launcher` (a run started with `confined_argv(..., network)`)
    and check that they are in `network`'s namespace; raise otherwise (its process ended and the
    pid went to another before `nsenter` ran). Returns the namespaces' first process."""
    target = _namespaced_descendant(launcher, time.monotonic() + NETWORK_TIMEOUT, kind="user")
    try:
        joined = os.readlink(f"/proc/{target}/ns/net")
    except OSError:
        joined = None
    if joined != network.namespace:
        raise RuntimeError(f"the run is not in the network namespace {network.namespace} of pid {network.pid}")
    return target


def _namespaced_descendant(pid: int, deadline: float, kind: str = "net") -> int:
    """The first process below `pid` (itself included) in another `kind` namespace than ours."""
    ours = os.readlink(f"/proc/self/ns/{kind}")
    while time.monotonic() < deadline:
        current = pid
        while current:
            try:
                if os.readlink(f"/proc/{current}/ns/{kind}") != ours:
                    return current
                children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
            except OSError:
                break
            current = int(children[0]) if children else 0
        time.sleep(0.005)
    raise RuntimeError("the job's namespaces were not created in time")


def _has_default_route(pid: int) -> bool:
    """IPv4 default route in the namespace of `pid` (pasta configures routes last)."""
    try:
        lines = Path(f"/proc/{pid}/net/route").read_text().splitlines()[1:]
    except OSError:
        return False
    return any(line.split()[1] == "00000000" for line in lines if len(line.split()) > 1)


class MemoryLimit:
    """A memory cgroup of the run's own, made by the worker (root): apptainer sets limits only as
    root, udocker not at all, so a confined run is limited from outside. cgroup v1 (with the swap
    limit where settable, else a container thrashes for minutes) or v2; none where neither is
    writable, with a warning."""

    def __init__(self, megabytes: int, name: str) -> None:
        self.limit = str(int(megabytes) * 1024 * 1024)
        self.v1 = CGROUP_ROOT / "memory" / "prominence" / name
        self.v2 = CGROUP_ROOT / "prominence" / name
        self.path: Path | None = None

    def apply(self, launcher: int) -> bool:
        """Move the run's processes (all waiting for the go) into a new cgroup with the limit."""
        try:
            self.path = self._create()
        except OSError as exc:
            log.warning("Memory limit not enforced: %s", exc)
            return False
        for pid in _descendants(launcher):
            (self.path / "cgroup.procs").write_text(str(pid))
        return True

    def _create(self) -> Path:
        if (CGROUP_ROOT / "memory").is_dir():
            self.v1.mkdir(parents=True, exist_ok=True)
            (self.v1 / "memory.limit_in_bytes").write_text(self.limit)
            if (self.v1 / "memory.memsw.limit_in_bytes").exists():
                (self.v1 / "memory.memsw.limit_in_bytes").write_text(self.limit)
            return self.v1
        for parent in (CGROUP_ROOT, self.v2.parent):
            parent.mkdir(exist_ok=True)
            (parent / "cgroup.subtree_control").write_text("+memory")
        self.v2.mkdir(exist_ok=True)
        (self.v2 / "memory.max").write_text(self.limit)
        (self.v2 / "memory.swap.max").write_text("0")
        return self.v2

    def usage(self) -> MemoryUsage | None:
        """The run's peak and whether the kernel killed a process of it for the limit; read
        before `remove`. v1: max_usage_in_bytes and oom_control's `oom_kill`; v2: memory.peak
        (Linux 5.19 on) and memory.events' `oom_kill`. None when the run had no cgroup."""
        if self.path is None:
            return None
        v1 = self.path == self.v1
        peak = _read_int(self.path / ("memory.max_usage_in_bytes" if v1 else "memory.peak"))
        counters = _read_counters(self.path / ("memory.oom_control" if v1 else "memory.events"))
        return MemoryUsage(peak, counters.get("oom_kill", 0) > 0)

    def remove(self) -> None:
        if self.path is not None:
            try:
                self.path.rmdir()
            except OSError as exc:
                log.warning("Could not remove the run's memory cgroup %s: %s", self.path, exc)


@dataclass(frozen=True)
class MemoryUsage:
    """What a run's memory cgroup recorded: its peak in bytes (None: not readable) and whether
    a process of it was killed for going over the limit."""

    peak_bytes: int | None
    oom_killed: bool


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _read_counters(path: Path) -> dict[str, int]:
    """`name value` lines (memory.events, memory.oom_control) as a dict; {} when unreadable."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    pairs = (line.split() for line in lines)
    return {pair[0]: int(pair[1]) for pair in pairs if len(pair) == 2 and pair[1].isdigit()}


def _descendants(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            pending += [int(c) for c in Path(f"/proc/{current}/task/{current}/children").read_text().split()]
        except OSError:
            continue
    return found
