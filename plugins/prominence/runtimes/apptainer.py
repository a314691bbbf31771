"""The `singularity` runtime: the `apptainer` (or legacy `singularity`) binary on PATH.

Images are pulled into a SIF file in the sandbox (`images/<n>/image.sif`, spec §13.5), so a
task's run never touches a registry and its exit code is the command's own.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from functools import cache, cached_property
from pathlib import Path

from prominence.runtimes import images
from prominence.runtimes.base import (
    CONTAINER_HOME,
    CONTAINER_PATH,
    CONTAINER_TMP,
    PullResult,
    Runtime,
    container_env,
    find_pulled,
    insecure_registries,
    new_image_dir,
    record_pull,
    registry_of,
    run_tool,
)
from prominence.runtimes.errors import ImagePullError, RuntimeNotAvailableError
from prominence.runtimes.spec import NO_SOURCE, ImageSource, PreparedRun, RunSpec

log = logging.getLogger(__name__)

PULL_ATTEMPTS = 2
PULL_TIMEOUT = 3600
SCHEMES = ("docker://", "shub://", "oras://", "library://", "docker-daemon://", "oci://")
CGROUP_ROOT = Path("/sys/fs/cgroup")


class ApptainerRuntime(Runtime):
    """Runs tasks with `apptainer exec|run` on a SIF pulled beforehand."""

    name = "singularity"

    def __init__(self, binary: str | None = None) -> None:
        self._binary = binary

    @cached_property
    def binary(self) -> str:
        """The executable: the one given, else `apptainer`, else `singularity` on PATH."""
        for candidate in (self._binary, "apptainer", "singularity"):
            if candidate and (path := shutil.which(candidate)):
                return path
        raise RuntimeNotAvailableError("neither apptainer nor singularity is installed")

    @property
    def _is_apptainer(self) -> bool:
        return Path(self.binary).name.startswith("apptainer")

    @property
    def _env_prefix(self) -> str:
        return "APPTAINER" if self._is_apptainer else "SINGULARITY"

    def pull(self, image: str, sandbox: Path, identity=None, source: ImageSource = NO_SOURCE) -> PullResult:
        """Reuse the job's own pull or the worker's cached image of checksum `source.sha256`;
        else fetch (a URL or an upload: a SIF as it is, an archive built into one) or pull."""
        found = find_pulled(sandbox, self.name, image)
        if found and Path(found[0].target).is_file():
            prepared, sha256 = found
            return PullResult(**vars(prepared), status="cached", seconds=0.0, sha256=sha256)
        directory = new_image_dir(sandbox)
        sif = directory / "image.sif"
        hit = images.cached(self.name, source.cache_key(source.sha256), sif)
        if hit is not None:
            result = PullResult(
                runtime=self.name,
                image=image,
                target=str(hit),
                status="cached",
                seconds=0.0,
                sha256=source.sha256.lower().removeprefix("sha256:"),
            )
            record_pull(directory, result)
            return result
        started = time.monotonic()
        try:
            sha256 = self._acquire(image, sif, source)
        except ImagePullError:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        seconds = time.monotonic() - started
        sif.chmod(0o644)  # read by the job's uid, written by nobody but the worker
        if source.cache_key(sha256):
            images.store(self.name, source.cache_key(sha256), sif)
        result = PullResult(runtime=self.name, image=image, target=str(sif), status="completed", seconds=seconds, sha256=sha256)
        record_pull(directory, result)
        log.info("Pulled %s into %s in %.2f s", image, sif, seconds)
        return result

    def _acquire(self, image: str, sif: Path, source: ImageSource) -> str:
        """Make `sif` and return the image's checksum: of the file fetched, else of the SIF."""
        if source.fetch is None:
            self._pull(image, sif, source)
            sha256 = images.sha256_of(sif)
            images.check_sha256(source, sha256)
            return sha256
        fetched, sha256 = images.fetch_image(source, sif.parent)
        if images.is_archive(fetched):
            argv = [self.binary, "--quiet", "build", "--force", str(sif), f"docker-archive:{fetched}"]
            run_tool(argv, timeout=PULL_TIMEOUT)
            fetched.unlink()
        else:
            fetched.rename(sif)
        return sha256

    def _pull(self, image: str, sif: Path, source: ImageSource) -> None:
        """`pull --name`, with plain HTTP only for a configured insecure registry; 2 attempts.

        A credential goes in the pull's environment (spec §13.5), never on its command line."""
        registry = image if image.startswith(SCHEMES) else f"docker://{image}"
        argv = [self.binary, "pull"]
        if registry.startswith("docker://") and registry_of(registry[9:])[0] in insecure_registries():
            argv.append("--no-https" if self._is_apptainer else "--nohttps")
        argv += ["--name", str(sif), registry]
        env = None
        if source.private:
            env = os.environ | {
                f"{self._env_prefix}_DOCKER_USERNAME": source.username or "",
                f"{self._env_prefix}_DOCKER_PASSWORD": source.password or "",
            }
        for attempt in range(1, PULL_ATTEMPTS + 1):
            try:
                run_tool(argv, env=env, timeout=PULL_TIMEOUT)
                return
            except ImagePullError as exc:
                sif.unlink(missing_ok=True)
                if attempt == PULL_ATTEMPTS or _permanent(str(exc)):
                    raise
                log.warning("Pull of %s failed (attempt %d), retrying: %s", image, attempt, exc)

    def command_line(self, spec: RunSpec) -> tuple[list[str], dict[str, str]]:
        """Contained mode: `--containall` (own PID and IPC namespaces, no host files but the binds,
        a clean environment) and `--no-privs` (no capabilities, even for root in the container).
        `--quiet`: as a non-root uid apptainer says at INFO level, into the job's stderr, how it
        mounts or unpacks the SIF."""
        argv = [self.binary, "--quiet", "exec" if spec.command and not spec.app else "run", "--containall", "--no-privs"]
        if spec.app:
            # Spec §13.6: an app is always `run`, the command (if any) becomes its arguments.
            argv += ["--app", spec.app]
        if self._is_apptainer:
            # The worker's cwd and /tmp, /var/tmp would otherwise be mounted into the container.
            argv += ["--no-mount", "cwd,tmp"]
        argv += ["--home", f"{spec.home}:{CONTAINER_HOME}", "--bind", f"{spec.tmp}:{CONTAINER_TMP}"]
        for source, target in spec.binds:
            argv += ["--bind", f"{source}:{target}"]
        if spec.memory_mb and spec.identity is None:
            # A confined run's limit is its own cgroup, made by the process manager.
            argv += memory_flags(spec.memory_mb)
        argv += ["--pwd", spec.workdir, spec.image.target, *(spec.command or ())]
        return argv, self._host_env(spec)

    def _host_env(self, spec: RunSpec) -> dict[str, str]:
        """apptainer's own settings, and the container's variables as `<PREFIX>ENV_<name>`, the
        only way they cross `--cleanenv` (so a user's APPTAINER_BIND is the container's variable,
        never a setting of the runtime).

        HOME on the host is the job's scratch directory (the worker's own home when there is
        none), where apptainer keeps its settings and temporary files, not in the job's home.
        """
        variables = container_env(spec, self.name)
        del variables["HOME"]  # set by --home; apptainer refuses it as a variable
        host = {f"{self._env_prefix}ENV_{key}": value for key, value in variables.items()}
        if spec.scratch is not None:
            host["HOME"] = str(spec.scratch)
            host[f"{self._env_prefix}_TMPDIR"] = str(spec.scratch)
        else:
            host["HOME"] = _worker_home()
        host["PATH"] = CONTAINER_PATH
        return host

    def version(self) -> str:
        return self._version

    @cached_property
    def _version(self) -> str:
        return run_tool([self.binary, "version"], timeout=60, error=RuntimeNotAvailableError).strip()

    def cleanup(self, prepared: PreparedRun) -> None:
        """Nothing to do: the SIF lives in the sandbox, which the job's own cleanup removes."""


def _permanent(message: str) -> bool:
    """Failures a second attempt cannot fix (the image or the registry's answer is definite)."""
    lowered = message.lower()
    return any(s in lowered for s in ("manifest unknown", "not found", "unauthorized", "denied", "invalid"))


def memory_flags(memory_mb: int) -> list[str]:
    """`--memory` (and `--memory-swap` where settable) when the memory cgroup is usable, else [].

    Without a swap limit a cgroup v1 container over its limit thrashed for minutes here before
    being killed; with it, the kill came in under a second.
    """
    usable, swap = _memory_cgroup()
    if not usable:
        return []
    limit = f"{int(memory_mb)}M"
    return ["--memory", limit, "--memory-swap", limit] if swap else ["--memory", limit]


@cache
def _memory_cgroup() -> tuple[bool, bool]:
    """(limits enforceable, swap limit settable), probed once per process."""
    usable, swap = _probe_memory_cgroup()
    if not usable:
        log.warning("Memory limits are not enforced: no writable memory cgroup for apptainer")
    return usable, swap


def _probe_memory_cgroup() -> tuple[bool, bool]:
    """Apptainer sets limits itself (cgroupfs) only as root, in a writable v1 or v2 hierarchy."""
    if os.geteuid() != 0:
        return False, False
    v1 = CGROUP_ROOT / "memory"
    if v1.is_dir():
        return os.access(v1, os.W_OK), (v1 / "memory.memsw.limit_in_bytes").exists()
    try:
        controllers = (CGROUP_ROOT / "cgroup.controllers").read_text().split()
    except OSError:
        return False, False
    usable = "memory" in controllers and os.access(CGROUP_ROOT, os.W_OK)
    return usable, usable


def _worker_home() -> str:
    """The worker's own home, where apptainer keeps its settings (not the sandbox's home)."""
    return os.environ.get("HOME") or os.path.expanduser("~")
