"""What one container run needs, in one value: the operator decides it, a runtime turns it into
a command line, the process manager runs that command."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prominence.runtimes.confine import SharedNetwork
    from prominence.runtimes.identity import JobIdentity


@dataclass(frozen=True)
class ImageSource:
    """What a task says about its image besides its name (spec §3.3, §13.5).

    `fetch` writes the image file (a SIF or a `docker save` archive, maybe gzipped) to the path
    given: set for URLs and uploaded images, None for registry names. `username` and `password`
    log in to the registry (`imagePullCredential`); `sha256` is the checksum the image must have
    (`imageSha256`), which also lets a worker reuse an image another job pulled.
    """

    fetch: Callable[[Path], None] | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sha256: str | None = None
    # Whose image it is when not everyone's (an upload: its object in the owner's area).
    scope: str | None = None

    @property
    def private(self) -> bool:
        """Pulled with a credential: never shared with jobs that have none."""
        return self.password is not None

    def cache_key(self, sha256: str | None) -> str | None:
        """The worker's cache name of this image of checksum `sha256`: None (never cached) when
        pulled with a credential; an upload's is its owner's alone, so knowing its checksum gives
        nobody else the image."""
        if self.private or not sha256:
            return None
        digest = sha256.lower().removeprefix("sha256:")
        return hashlib.sha256(f"{self.scope}\0{digest}".encode()).hexdigest() if self.scope else digest


NO_SOURCE = ImageSource()


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
    `forward_ports` the host loopback ports the run may reach (the API's); `namespace_record`
    where a confined run records its namespaces while it runs (for `exec`, spec §6.8);
    `network` the running run whose network namespace a confined run joins (a sidecar beside its
    task) instead of getting one of its own.
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
    namespace_record: Path | None = None
    network: SharedNetwork | None = None
    disk_gb: int | None = None  # the job's disk: enforced only by kubernetes (ephemeral storage)
    app: str | None = None  # a SCIF app of the image (apptainer only; the model refuses it for udocker)
    # The task's `stdout` file, relative to `home`: output (stderr merged) is also appended there.
    stdout_copy: str | None = None

    @property
    def runtime(self) -> str:
        return self.image.runtime
