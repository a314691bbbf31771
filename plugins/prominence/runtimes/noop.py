"""The `noop` runtime, for unit tests of the operators: no image, no container, no registry.

Its "image" is pulled instantly (an image tagged `:missing` fails to pull), and its run is a
small Python process that follows the task's command as steps separated by `;`:
`echo WORDS`, `warn WORDS` (to stderr), `env NAME`, `write FILE WORDS` (in the working
directory), `sleep SECONDS` and `exit CODE`. So the process manager's mechanics (process group,
walltime, kill, usage) are real while nothing of a container is needed. Job descriptions
cannot name this runtime (the job schema admits `singularity` and `udocker` only).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from prominence.runtimes.base import (
    CONTAINER_HOME,
    CONTAINER_PATH,
    PullResult,
    Runtime,
    container_env,
    find_pulled,
    new_image_dir,
    record_pull,
)
from prominence.runtimes.errors import ImagePullError
from prominence.runtimes.spec import PreparedRun, RunSpec

STEPS = Path(__file__).with_name("noop_steps.py")


class NoopRuntime(Runtime):
    name = "noop"
    confined = False

    def pull(self, image: str, sandbox: Path, identity=None, source=None) -> PullResult:
        if image.endswith(":missing"):
            raise ImagePullError(f"noop pull {image}: manifest unknown")
        found = find_pulled(sandbox, self.name, image)
        if found:
            return PullResult(**vars(found[0]), status="cached", seconds=0.0, sha256=found[1])
        started = time.monotonic()
        directory = new_image_dir(sandbox)
        result = PullResult(
            runtime=self.name,
            image=image,
            target=image,
            status="completed",
            seconds=time.monotonic() - started,
            sha256="0" * 64,
        )
        record_pull(directory, result)
        return result

    def command_line(self, spec: RunSpec) -> tuple[list[str], dict[str, str]]:
        """The steps run in the host directory that is the container's working directory."""
        inside = spec.workdir.removeprefix(CONTAINER_HOME).lstrip("/")
        workdir = spec.home / inside if spec.workdir.startswith(CONTAINER_HOME) else spec.tmp
        env = container_env(spec, self.name) | {"PATH": CONTAINER_PATH}
        return [sys.executable, "-I", str(STEPS), str(workdir), *(spec.command or ())], env

    def version(self) -> str:
        return "0"

    def cleanup(self, prepared: PreparedRun) -> None:
        """Nothing is left outside the sandbox."""
