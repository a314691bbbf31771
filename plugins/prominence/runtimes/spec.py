"""What one container run needs, in one value: the operator decides it, a runtime turns it into
a command line, the process manager runs that command."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prominence.runtimes.identity import JobIdentity


@dataclass(frozen=True)
class PreparedRun:
    """The pulled image, ready to run.

    `target` is what the runtime launches: a SIF file (apptainer) or a container name (udocker).
    """

    runtime: str
    image: str
    target: str


@dataclass(frozen=True)
class RunSpec:
    """One run of a task's container.

    `command` None runs the image's default command. `env` is the task's environment with the
    system's `PROMINENCE_*` variables applied; the runtime adds its own (HOME, TMP, USER, ...).
    `home` and `tmp` are host directories mounted at /home/user and /tmp, `binds` extra
    (host, container) mounts. `stdout` and `stderr` are appended to; `usage` is where GNU time
    writes the run's measurements. `walltime_seconds` is what is left of the job's walltime.
    `identity` is the host uid/gid the run is confined to (None: not confined, the noop runtime's
    unit tests only); `scratch` the runtime's own per-job directory, owned by that identity;
    `forward_ports` the host loopback ports the run may reach (the API's).
    """

    image: PreparedRun
    command: tuple[str, ...] | None
    env: Mapping[str, str]
    workdir: str
    home: Path
    tmp: Path
    stdout: Path
    stderr: Path
    usage: Path
    walltime_seconds: float
    binds: tuple[tuple[str, str], ...] = ()
    cpus: int = 1  # provisioned for the task; not yet enforced by either runtime
    memory_mb: int | None = None
    identity: JobIdentity | None = None
    scratch: Path | None = None
    forward_ports: tuple[int, ...] = ()
    disk_gb: int | None = None  # the job's disk: enforced only by kubernetes (ephemeral storage)
    app: str | None = None  # a SCIF app of the image (apptainer only; the model refuses it for udocker)
    # The task's `stdout` file, relative to `home`: output (stderr merged) is also appended there.
    stdout_copy: str | None = None

    @property
    def runtime(self) -> str:
        return self.image.runtime
