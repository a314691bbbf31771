"""The `udocker` runtime: containers run unprivileged under Debian's `proot` (udocker mode P1).

udocker normally downloads its own tools; here it is told to use the system's proot through a
wrapper that drops proot's `-k` flag (a faked kernel release breaks glibc programs), and not to
download anything (empty UDOCKER_TARBALL). P1 is used because its runc mode loses exit codes.

Never as root (no `--allow-root`): images are pulled into one UDOCKER_DIR shared by all jobs,
owned by the image store's uid (`identity.store_identity`), which jobs can read but not change;
concurrent pulls corrupt each other, so they are serialised by a file lock. Each task's container
is created and run as the job's own uid in the job's scratch directory. udocker runs with the
system's Python from a readable copy of its package (the venv's interpreter may be out of the
job uid's reach); proot gives no PID or IPC namespace, so the process manager's confinement
(`confine.py`) does.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from functools import cached_property
from pathlib import Path

import udocker as udocker_package

from prominence.config import get_settings
from prominence.contract.sandbox import Sandbox
from prominence.runtimes import images, private_pull
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
    run_user,
)
from prominence.runtimes.errors import ImagePullError, RuntimeNotAvailableError, file_lock
from prominence.runtimes.identity import JobIdentity, as_identity, store_identity
from prominence.runtimes.spec import NO_SOURCE, ImageSource, PreparedRun, RunSpec

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
LAUNCHER = """#!{python} -I
# Written by PROMINENCE: udocker {version} from a copy readable by the jobs' uids.
import sys
sys.path.insert(0, {path!r})
from udocker.maincmd import main
sys.exit(main())
"""
# What udocker writes in UDOCKER_DIR when pulling (it creates them otherwise).
STORE_DIRS = ("repos", "layers", "containers", "bin", "lib", "doc", "tmp")
# Settings of udocker itself, which a user's variable of the same name must not change.
RUNTIME_PREFIXES = ("UDOCKER_", "PROOT_")
# The store's repository of images loaded from archives (URLs, uploads), named by checksum.
FILE_REPO = "prominence-file"
# Images pulled with a credential, each under a name of its own, removed once its container exists.
PRIVATE_REPO = "prominence-private"


class UdockerRuntime(Runtime):
    """Runs tasks with `udocker run` in a container created from the pulled image."""

    name = "udocker"

    def __init__(self, udocker_dir: Path | None = None) -> None:
        self._udocker_dir = udocker_dir

    @cached_property
    def udocker_dir(self) -> Path:
        if self._udocker_dir is not None:
            return Path(self._udocker_dir)
        settings = get_settings()
        return Path(settings.udocker_dir or settings.home / "udocker")

    @cached_property
    def binary(self) -> str:
        """A launcher of udocker's package copied into UDOCKER_DIR, run by the system's Python."""
        python = shutil.which("python3", path=CONTAINER_PATH)
        if python is None:
            raise RuntimeNotAvailableError("python3 is not installed for udocker")
        copy, launcher = self.udocker_dir / "python", self.udocker_dir / "udocker-run"
        text = LAUNCHER.format(python=python, version=udocker_package.__version__, path=str(copy))
        with file_lock(self.udocker_dir / ".install.lock"):
            if not launcher.exists() or launcher.read_text() != text:
                staged = copy.with_name(f".python.{os.getpid()}")
                shutil.rmtree(staged, ignore_errors=True)
                package = Path(udocker_package.__file__).parent
                shutil.copytree(package, staged / "udocker", ignore=shutil.ignore_patterns("__pycache__"))
                shutil.rmtree(copy, ignore_errors=True)
                staged.rename(copy)
                _write_executable(launcher, text)
        return str(launcher)

    @cached_property
    def _store(self) -> JobIdentity:
        """The image store's identity, owner of udocker's data directories (made so on first use,
        also of an older repository that root owned); the programs beside them stay root's."""
        store = store_identity()
        self.udocker_dir.mkdir(parents=True, exist_ok=True)
        self.udocker_dir.chmod(0o755)  # jobs' uids run udocker from here and read its images
        for name in STORE_DIRS:
            directory = self.udocker_dir / name
            directory.mkdir(parents=True, exist_ok=True)
            if directory.stat().st_uid != store.uid:
                for path in [directory, *directory.rglob("*")]:
                    os.chown(path, store.uid, store.gid, follow_symlinks=False)
        return store

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
            _write_executable(wrapper, text)
        return wrapper

    def _tool_env(self, containers: Path | None = None, tmp: Path | None = None) -> dict[str, str]:
        """udocker's own settings: its repository, its containers and scratch directories."""
        env = {
            "PATH": CONTAINER_PATH,
            "HOME": str(tmp or self._tmp_dir),
            "UDOCKER_DIR": str(self.udocker_dir),
            "UDOCKER_TARBALL": "",
            "UDOCKER_USE_PROOT_EXECUTABLE": str(self._proot_wrapper),
            "UDOCKER_DEFAULT_EXECUTION_MODE": EXECUTION_MODE,
            "UDOCKER_TMP": str(tmp or self._tmp_dir),
        }
        if containers is not None:
            env["UDOCKER_CONTAINERS"] = str(containers)
        return env

    @property
    def _tmp_dir(self) -> Path:
        """The image store's scratch files (one of STORE_DIRS), kept out of the host's /tmp."""
        return self.udocker_dir / "tmp"

    def pull(self, image: str, sandbox: Path, identity: JobIdentity | None = None, source: ImageSource = NO_SOURCE) -> PullResult:
        """Get the image into the store as the image store (unless it holds it already), then
        create the task's container as the job (`identity`, else the image store: runtime tests
        only) in the job's scratch directory.

        An image pulled with a credential leaves the store once the task's container exists: no
        other job can run it."""
        found = find_pulled(sandbox, self.name, image)
        if found and self._container_exists(found[0].target):
            prepared, sha256 = found
            return PullResult(**vars(prepared), status="cached", seconds=0.0, sha256=sha256)
        owner = identity or self._store
        name = ""
        containers = Sandbox(Path(sandbox)).scratch / "udocker"
        containers.mkdir(parents=True, exist_ok=True)
        os.chown(containers, owner.uid, owner.gid)
        container = f"prom-{uuid.uuid4().hex[:16]}"
        directory = new_image_dir(sandbox)
        started = time.monotonic()
        try:
            name, sha256, status = self._acquire(image, directory, source)
            create = [*as_identity(owner), self.binary, "create", f"--name={container}", name]
            run_tool(create, env=self._tool_env(containers, containers), timeout=PULL_TIMEOUT)
        except ImagePullError:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        finally:
            if name.startswith(PRIVATE_REPO + "/"):
                self._remove(name)
        seconds = time.monotonic() - started
        target = str(containers / container)
        result = PullResult(runtime=self.name, image=image, target=target, status=status, seconds=seconds, sha256=sha256)
        record_pull(directory, result)
        log.info("Pulled %s as udocker container %s in %.2f s (%s)", image, container, seconds, status)
        return result

    def _acquire(self, image: str, directory: Path, source: ImageSource) -> tuple[str, str | None, str]:
        """(The image's name in the store, its checksum, `cached` or `completed`).

        A fetched archive is loaded under a name made of its cache key (its checksum, and for an
        upload its owner's object), so no job's archive can take the name of another's image; one
        fetched with a credential under a name of its own. A registry image is not pulled again
        when the store holds the one of checksum `source.sha256` from an earlier pull (spec §13.4)."""
        if source.private and source.fetch is None:
            return self._acquire_private(image, directory, source)
        if source.fetch is not None:
            known = source.cache_key(source.sha256)
            if known and self._image_id(_file_name(known)):
                return _file_name(known), source.sha256, "cached"
            fetched, sha256 = images.fetch_image(source, directory)
            if not images.is_archive(fetched):
                raise ImagePullError("udocker runs docker save archives only, not Singularity images")
            images.dereference_links(fetched)
            fetched.chmod(0o644)  # read by the image store's uid
            with file_lock(self.udocker_dir / ".pull.lock"):
                key = source.cache_key(sha256)
                name = _file_name(key) if key else _private_name()
                if not self._image_id(name):
                    self._load(fetched, name)
            fetched.unlink()
            return name, sha256, "completed"
        registry, name = registry_of(image)
        if ":" not in name.rsplit("/", 1)[-1] and "@" not in name:
            name += ":latest"
        if source.sha256 and self._image_id(name) == source.sha256.lower().removeprefix("sha256:"):
            return name, self._image_id(name), "cached"
        pull = [*as_identity(self._store), self.binary, "pull"]
        if registry is not None:
            # A name carrying host:port would be looked up on Docker Hub.
            scheme = "http" if registry in insecure_registries() else "https"
            pull.append(f"--registry={scheme}://{registry}")
        with file_lock(self.udocker_dir / ".pull.lock"):
            run_tool([*pull, name], env=self._tool_env(), timeout=PULL_TIMEOUT)
            sha256 = self._image_id(name)
        images.check_sha256(source, sha256)
        return name, sha256, "completed"

    def _acquire_private(self, image: str, directory: Path, source: ImageSource) -> tuple[str, str, str]:
        """Copied by skopeo (`private_pull`), checked, loaded under a name no one else knows."""
        archive = directory / "private.tar"
        name = _private_name()
        sha256 = private_pull.copy_to_archive(image, archive, name, source, PULL_TIMEOUT)
        images.check_sha256(source, sha256)
        images.dereference_links(archive)
        archive.chmod(0o644)  # read by the image store's uid
        with file_lock(self.udocker_dir / ".pull.lock"):
            self._load(archive, name)
        archive.unlink()
        return name, sha256, "completed"

    def _load(self, archive: Path, name: str) -> None:
        load = [*as_identity(self._store), self.binary, "load", f"--input={archive}", name.removesuffix(":latest")]
        run_tool(load, env=self._tool_env(), timeout=PULL_TIMEOUT)

    def _remove(self, name: str) -> None:
        """Take `name` out of the store (its containers keep their own copy of its files)."""
        try:
            with file_lock(self.udocker_dir / ".pull.lock"):
                run_tool([*as_identity(self._store), self.binary, "rmi", name], env=self._tool_env(), timeout=PULL_TIMEOUT)
        except ImagePullError as exc:
            log.warning("Could not remove %s from the image store: %s", name, exc)

    def _container_exists(self, target: str) -> bool:
        return Path(target).is_absolute() and Path(target).exists()

    def _image_id(self, name: str) -> str | None:
        """The image's id in the store: the config digest of a pulled one (content-addressed),
        from udocker's stored manifest; the archive's checksum of a loaded one (`_file_name`)."""
        repo, _, tag = name.rpartition(":")
        if repo.startswith(FILE_REPO + "/"):
            loaded = (self.udocker_dir / "repos" / repo / tag / "TAG").exists()
            return repo.removeprefix(FILE_REPO + "/") if loaded else None
        manifest = self.udocker_dir / "repos" / repo / tag / "manifest"
        try:
            digest = json.loads(manifest.read_text())["config"]["digest"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return digest.removeprefix("sha256:")

    def command_line(self, spec: RunSpec) -> tuple[list[str], dict[str, str]]:
        """Spec §13.6's udocker line; proot sets no memory limit (a confined run's cgroup does).

        The container's variables reach it through udocker's own environment (`--hostenv`), not
        its command line; only HOME, which udocker would set from the passwd entry, is given there.
        """
        target = Path(spec.image.target)
        argv = [self.binary, "-q", "run", "--hostenv", f"--env=HOME={CONTAINER_HOME}"]
        argv += ["--hostauth", f"--user={run_user(spec)}"]
        argv += ["-v", f"{spec.home}:{CONTAINER_HOME}", "-v", f"{spec.tmp}:{CONTAINER_TMP}"]
        argv += [item for source, target_dir in spec.binds for item in ("-v", f"{source}:{target_dir}")]
        argv += [f"--workdir={spec.workdir}", target.name, *(spec.command or ())]
        variables = {k: v for k, v in container_env(spec, self.name).items() if not k.startswith(RUNTIME_PREFIXES)}
        return argv, variables | self._tool_env(target.parent, spec.scratch or target.parent)

    def version(self) -> str:
        return self._version

    @cached_property
    def _version(self) -> str:
        """`udocker version` prints `version: X` and `tarball: Y`; spec §13.6 reports `X/Y`."""
        fields = {}
        argv = [*as_identity(self._store), self.binary, "version"]
        output = run_tool(argv, env=self._tool_env(), timeout=60, error=RuntimeNotAvailableError)
        for line in output.splitlines():
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
        tarball = fields.get("tarball", "")
        return f"{fields.get('version', 'unknown')}/{tarball}" if tarball else fields.get("version", "unknown")

    def cleanup(self, prepared: PreparedRun) -> None:
        """Remove the container created by `pull` (its directory and its name's link).

        A failure is logged, never raised: cleanup must not fail the task it follows.
        """
        link = Path(prepared.target)
        try:
            if link.is_symlink():
                shutil.rmtree(link.resolve(), ignore_errors=True)
                link.unlink()
        except OSError as exc:
            log.warning("Could not clean up udocker container %s: %s", prepared.target, exc)


def _file_name(key: str) -> str:
    """The store's name of the archive of cache key `key` (`udocker load`)."""
    return f"{FILE_REPO}/{key.lower().removeprefix('sha256:')}:latest"


def _private_name() -> str:
    """A name for an image no other job may run (`pull` removes it once its container exists)."""
    return f"{PRIVATE_REPO}/{uuid.uuid4().hex}:latest"


def _write_executable(path: Path, text: str) -> None:
    """Replace `path` atomically with a 0755 script."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text)
    tmp.chmod(0o755)
    tmp.replace(path)
