"""The `udocker` runtime: containers run unprivileged under Debian's `proot` (udocker mode P1).

udocker normally downloads its own tools; here it is told to use the system's proot through a
wrapper that drops proot's `-k` flag (a faked kernel release breaks glibc programs), and not to
download anything (empty UDOCKER_TARBALL). P1 is used because its runc mode loses exit codes.
Images and containers live in one shared UDOCKER_DIR, where concurrent pulls corrupt each
other, so pulls and creates are serialised by a file lock.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
import uuid
from functools import cached_property
from pathlib import Path

from prominence.config import get_settings
from prominence.runtimes.base import (
    CONTAINER_HOME,
    CONTAINER_TMP,
    PullResult,
    Runtime,
    RuntimeNotAvailableError,
    container_env,
    file_lock,
    find_pulled,
    insecure_registries,
    new_image_dir,
    record_pull,
    registry_of,
    run_tool,
    worker_user,
)
from prominence.runtimes.spec import PreparedRun, RunSpec

log = logging.getLogger(__name__)

PULL_TIMEOUT = 3600
PROOT_WRAPPER = "proot-no-k"
EXECUTION_MODE = "P1"
WRAPPER_SCRIPT = """#!/bin/sh
# Written by PROMINENCE: run {proot} without -k (udocker's faked kernel release breaks glibc).
for arg do
    shift
    if [ -n "$skip" ]; then skip=; continue; fi
    if [ "$arg" = -k ]; then skip=1; continue; fi
    set -- "$@" "$arg"
done
exec {proot} "$@"
"""


class UdockerRuntime(Runtime):
    """Runs tasks with `udocker run` in a container created from the pulled image."""

    name = "udocker"

    def __init__(self, udocker_dir: Path | None = None, binary: str | None = None) -> None:
        self._udocker_dir = udocker_dir
        self._binary = binary

    @cached_property
    def udocker_dir(self) -> Path:
        if self._udocker_dir is not None:
            return Path(self._udocker_dir)
        settings = get_settings()
        return Path(settings.udocker_dir or settings.home / "udocker")

    @cached_property
    def binary(self) -> str:
        """The `udocker` beside this Python (the venv's), else the one on PATH."""
        beside = Path(sys.executable).with_name("udocker")
        for candidate in (self._binary, str(beside) if beside.exists() else None, "udocker"):
            if candidate and (path := shutil.which(candidate)):
                return path
        raise RuntimeNotAvailableError("udocker is not installed")

    @cached_property
    def _base_argv(self) -> list[str]:
        argv = [self.binary]
        if os.geteuid() == 0:
            argv.append("--allow-root")
        return argv

    @cached_property
    def _proot_wrapper(self) -> Path:
        """The proot wrapper in UDOCKER_DIR, written atomically if absent."""
        wrapper = self.udocker_dir / PROOT_WRAPPER
        proot = shutil.which("proot")
        if proot is None:
            raise RuntimeNotAvailableError("proot is not installed")
        text = WRAPPER_SCRIPT.format(proot=proot)
        if not wrapper.exists() or wrapper.read_text() != text:
            self.udocker_dir.mkdir(parents=True, exist_ok=True)
            tmp = wrapper.with_name(f".{PROOT_WRAPPER}.{os.getpid()}")
            tmp.write_text(text)
            tmp.chmod(0o755)
            tmp.replace(wrapper)
        return wrapper

    def _tool_env(self) -> dict[str, str]:
        """udocker's own settings; the only environment the udocker process gets from us."""
        return {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/root"),
            "UDOCKER_DIR": str(self.udocker_dir),
            "UDOCKER_TARBALL": "",
            "UDOCKER_USE_PROOT_EXECUTABLE": str(self._proot_wrapper),
            "UDOCKER_DEFAULT_EXECUTION_MODE": EXECUTION_MODE,
            "UDOCKER_TMP": str(self._tmp_dir),
        }

    @cached_property
    def _tmp_dir(self) -> Path:
        """udocker's scratch files (passwd/group copies per run), kept out of the host's /tmp."""
        path = self.udocker_dir / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def pull(self, image: str, sandbox: Path) -> PullResult:
        found = find_pulled(sandbox, self.name, image)
        if found and self._container_exists(found[0].target):
            prepared, sha256 = found
            return PullResult(**vars(prepared), status="cached", seconds=0.0, sha256=sha256)
        registry, name = registry_of(image)
        if ":" not in name.rsplit("/", 1)[-1] and "@" not in name:
            name += ":latest"
        pull = [*self._base_argv, "pull"]
        if registry is not None:
            # A name carrying host:port would be looked up on Docker Hub.
            scheme = "http" if registry in insecure_registries() else "https"
            pull.append(f"--registry={scheme}://{registry}")
        container = f"prom-{uuid.uuid4().hex[:16]}"
        env = self._tool_env()
        started = time.monotonic()
        with file_lock(self.udocker_dir / ".pull.lock"):
            run_tool([*pull, name], env=env, timeout=PULL_TIMEOUT)
            run_tool([*self._base_argv, "create", f"--name={container}", name], env=env, timeout=PULL_TIMEOUT)
        seconds = time.monotonic() - started
        result = PullResult(
            runtime=self.name,
            image=image,
            target=container,
            status="completed",
            seconds=seconds,
            sha256=self._image_id(name),
        )
        record_pull(new_image_dir(sandbox), result)
        log.info("Pulled %s as udocker container %s in %.2f s", image, container, seconds)
        return result

    def _container_exists(self, container: str) -> bool:
        return (self.udocker_dir / "containers" / container).exists()

    def _image_id(self, name: str) -> str | None:
        """The image's config digest (its content-addressed id), from udocker's stored manifest."""
        repo, _, tag = name.rpartition(":")
        manifest = self.udocker_dir / "repos" / repo / tag / "manifest"
        try:
            digest = json.loads(manifest.read_text())["config"]["digest"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return digest.removeprefix("sha256:")

    def command_line(self, spec: RunSpec) -> tuple[list[str], dict[str, str]]:
        """Spec §13.6's udocker line; memory limits cannot be enforced by proot and are ignored."""
        argv = [*self._base_argv, "-q", "run"]
        argv += [f"--env={key}={value}" for key, value in container_env(spec.env, self.name).items()]
        argv += ["--hostauth", f"--user={worker_user()}"]
        argv += ["-v", f"{spec.home}:{CONTAINER_HOME}", "-v", f"{spec.tmp}:{CONTAINER_TMP}"]
        argv += [item for source, target in spec.binds for item in ("-v", f"{source}:{target}")]
        argv += [f"--workdir={spec.workdir}", spec.image.target, *(spec.command or ())]
        return argv, self._tool_env()

    def version(self) -> str:
        return self._version

    @cached_property
    def _version(self) -> str:
        """`udocker version` prints `version: X` and `tarball: Y`; spec §13.6 reports `X/Y`."""
        fields = {}
        argv = [*self._base_argv, "version"]
        output = run_tool(argv, env=self._tool_env(), timeout=60, error=RuntimeNotAvailableError)
        for line in output.splitlines():
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
        tarball = fields.get("tarball", "")
        return f"{fields.get('version', 'unknown')}/{tarball}" if tarball else fields.get("version", "unknown")

    def cleanup(self, prepared: PreparedRun) -> None:
        """Remove the container created by `pull` and scratch files of killed runs.

        A failure is logged, never raised: cleanup must not fail the task it follows.
        """
        try:
            if self._container_exists(prepared.target):
                run_tool([*self._base_argv, "rm", "-f", prepared.target], env=self._tool_env(), timeout=300)
            self._prune_tmp()
        except Exception as exc:  # noqa: BLE001
            log.warning("Could not clean up udocker container %s: %s", prepared.target, exc)

    def _prune_tmp(self) -> None:
        """Delete `udocker-<pid>-...` files whose udocker process is gone (it was killed)."""
        for path in self._tmp_dir.glob("udocker-*"):
            pid = path.name.split("-")[1]
            if pid.isdigit() and not _alive(int(pid)):
                path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
