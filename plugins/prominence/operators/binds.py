"""The binds a container task adds for the job's artifacts (worker side)."""

from __future__ import annotations

import os
import posixpath

from prominence.contract.sandbox import Sandbox

CONTAINER_HOME = "/home/user"


def artifact_binds(sandbox: Sandbox) -> list[tuple[str, str]]:
    """(host, container) mounts of the artifacts' `dir:/abs` mountpoints (spec §13.3). The host
    side is resolved here, so a link a task put in the home cannot bind anything outside it."""
    home = sandbox.home.resolve()
    binds = []
    for artifact in (sandbox.read_json(sandbox.staging_file) or {}).get("artifacts", []):
        if artifact.get("mountpoint"):
            source, target = artifact["mountpoint"].split(":", 1)
            resolved = (home / source).resolve()
            if resolved.is_relative_to(home) and resolved.is_dir():
                binds.append((str(resolved), target))
    return binds


def home_relative(path: str | None, binds: list[tuple[str, str]], home: str) -> str | None:
    """Where a container path (a task's `stdout`, spec §13.6) lies in the job's home, relative to
    it: under /home/user, or under an artifact's mountpoint (its directory in the home); None
    elsewhere. Paths are normalised as text; the file itself is opened without following links."""
    if not path:
        return None
    full = posixpath.normpath(posixpath.join(CONTAINER_HOME, path))
    for source, target in [(home, CONTAINER_HOME), *binds]:
        if full.startswith(target.rstrip("/") + "/"):
            inside = posixpath.join(os.path.relpath(source, home), full[len(target.rstrip("/")) + 1 :])
            return posixpath.normpath(inside)
    return None
