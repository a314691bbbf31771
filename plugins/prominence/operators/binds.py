"""The binds a container task adds for the job's artifacts (worker side)."""

from __future__ import annotations

from prominence.contract.sandbox import Sandbox


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
