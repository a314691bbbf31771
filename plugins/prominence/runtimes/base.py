"""The interface every container runtime implements, and what the runtimes share.

A task runs in two steps of its own: `pull` (image acquisition, spec §13.5) and the command
line from `command_line` (spec §13.6), which `process.ProcessManager` launches in a new
process group. Keeping them apart lets a pull failure be reported as `Container image pull
failed` even where the runtime's exit code cannot tell (apptainer exits 255 for both).
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from prominence.config import get_settings
from prominence.runtimes.errors import ImagePullError
from prominence.runtimes.process import ProcessManager
from prominence.runtimes.spec import NO_SOURCE, ImageSource, PreparedRun, RunSpec

if TYPE_CHECKING:
    from prominence.runtimes.identity import JobIdentity

CONTAINER_HOME = "/home/user"
CONTAINER_TMP = "/tmp"
CONTAINER_PATH = "/usr/local/bin:/usr/bin:/usr/local/sbin:/usr/sbin:/bin"
RECORD = "pull.json"


@dataclass(frozen=True)
class PullResult(PreparedRun):
    """A prepared run plus the facts of its pull for the task report (spec §13.9).

    `status` is `completed` (pulled now) or `cached` (an earlier task of the job pulled the same
    image with the same runtime, or the worker holds the image of the task's `imageSha256`);
    `seconds` is the pull time, 0 when cached.
    """

    status: str
    seconds: float
    sha256: str | None


class Runtime(ABC):
    """A container runtime: pull an image into a job sandbox, then build the command that runs it."""

    name: str
    # Runs are containers of untrusted code, confined to the job's identity (the noop runtime's
    # are not: it runs a step script of this worker's unit tests).
    confined = True

    @abstractmethod
    def pull(self, image: str, sandbox: Path, identity: JobIdentity | None = None, source: ImageSource = NO_SOURCE) -> PullResult:
        """Make `image` runnable for a task of the job in `sandbox` as `identity`, from `source`
        (a file to fetch, a credential, a checksum); raise `ImagePullError` on failure."""

    @abstractmethod
    def command_line(self, spec: RunSpec) -> tuple[list[str], dict[str, str]]:
        """Return the argv and the complete host environment that run `spec`.

        HOME, TMP/TEMP/TMPDIR, USER and PROMINENCE_CONTAINER_RUNTIME are set here and win over
        `spec.env`. The host environment is built from scratch so that nothing of the worker's
        own environment (e.g. Airflow's secrets) reaches the container; the container's
        variables travel in it, never on the command line (world-readable in /proc).
        """

    def manager(self, spec: RunSpec, logger: logging.Logger | None = None) -> ProcessManager:
        """What carries out a run of `spec`: a process group on this worker (`command_line`), unless
        the runtime runs containers elsewhere (kubernetes: a pod)."""
        return ProcessManager(self, spec, logger)

    @abstractmethod
    def version(self) -> str:
        """The runtime's version as reported in `execution` (cached after the first call)."""

    @abstractmethod
    def cleanup(self, prepared: PreparedRun) -> None:
        """Remove what runs of `prepared` leave outside the sandbox; never raises."""


def run_user(spec: RunSpec) -> str:
    """The name of the user the container runs as (spec §13.6 `USER`): the job's own account."""
    if spec.identity is not None:
        return spec.identity.name
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def container_env(spec: RunSpec, runtime: str) -> dict[str, str]:
    """The variables seen in the container: the task's env, then the runtime's own, which win."""
    env = spec.env
    merged = {str(k): str(v) for k, v in env.items()}
    merged.update(
        HOME=CONTAINER_HOME,
        TMP=CONTAINER_TMP,
        TEMP=CONTAINER_TMP,
        TMPDIR=CONTAINER_TMP,
        USER=run_user(spec),
        PROMINENCE_CONTAINER_RUNTIME=runtime,
    )
    return merged


def run_tool(
    argv: list[str],
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    error: type[Exception] = ImagePullError,
) -> str:
    """Run one of the runtime's own commands (pull, create, version); return its stdout.

    A failure raises `error` carrying the last lines of the command's output, which is what a
    user needs to see in the job's events (e.g. `manifest unknown`).
    """
    try:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise error(f"{argv[0]}: {exc}") from exc
    if proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        name = " ".join(Path(a).name if i == 0 else a for i, a in enumerate(argv[:3]))
        raise error(f"{name} exited {proc.returncode}: {' '.join(detail[-3:])}")
    return proc.stdout


def registry_of(image: str) -> tuple[str | None, str]:
    """Split a docker reference into (registry host[:port] or None for Docker Hub, name[:tag]).

    Docker's own rule: the first component is a registry when it has a `.` or `:` or is
    `localhost`.
    """
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return None, image


def insecure_registries() -> set[str]:
    """Registries reached over plain HTTP: only those listed in `PROMINENCE_INSECURE_REGISTRIES`."""
    return {r.strip() for r in get_settings().insecure_registries.split(",") if r.strip()}


def images_dir(sandbox: Path) -> Path:
    return Path(sandbox) / "images"


def find_pulled(sandbox: Path, runtime: str, image: str) -> tuple[PreparedRun, str | None] | None:
    """An earlier pull of `image` by `runtime` in this sandbox (spec §13.4 reuse), if recorded."""
    root = images_dir(sandbox)
    if not root.is_dir():
        return None
    for record in sorted(root.glob(f"*/{RECORD}")):
        try:
            data = json.loads(record.read_text())
        except (OSError, ValueError):
            continue
        if data.get("runtime") == runtime and data.get("image") == image:
            prepared = PreparedRun(runtime=runtime, image=image, target=data["target"])
            return prepared, data.get("sha256")
    return None


def new_image_dir(sandbox: Path) -> Path:
    """The next free `images/<n>` directory of the sandbox (created)."""
    root = images_dir(sandbox)
    root.mkdir(parents=True, exist_ok=True)
    n = 0
    while True:
        try:
            (root / str(n)).mkdir()
            return root / str(n)
        except FileExistsError:
            n += 1


def record_pull(directory: Path, result: PullResult) -> None:
    """Remember a pull so that later tasks of the job reuse it."""
    data = asdict(result)
    tmp = directory / f".{RECORD}.tmp"
    tmp.write_text(json.dumps(data))
    tmp.replace(directory / RECORD)
