"""A registry image pulled with a credential into a `docker save` archive, for udocker.

udocker's own pull hands the credential to curl on its command line, readable by every process
of the machine in /proc; skopeo reads it from an auth file (0600, removed after the copy), so the
credential is on no command line, in no environment and in no log.
"""

from __future__ import annotations

import base64
import json
import os
import tarfile
from pathlib import Path

from prominence.runtimes.base import insecure_registries, registry_of, run_tool
from prominence.runtimes.errors import ImagePullError
from prominence.runtimes.spec import ImageSource

DOCKER_HUB = "docker.io"


def copy_to_archive(image: str, archive: Path, tag: str, source: ImageSource, timeout: float) -> str:
    """Copy `image` to `archive` (tagged `tag`: udocker loads tagged archives only) with the
    source's credential; the image's config digest (what `imageSha256` names for a registry image)."""
    registry, _ = registry_of(image)
    auth = archive.with_name("auth.json")
    secret = base64.b64encode(f"{source.username or ''}:{source.password or ''}".encode()).decode()
    fd = os.open(auth, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"auths": {registry or DOCKER_HUB: {"auth": secret}}}, handle)
    argv = ["skopeo", "copy", "--quiet", f"--src-authfile={auth}"]
    if registry in insecure_registries():
        argv.append("--src-tls-verify=false")
    try:
        run_tool([*argv, f"docker://{image}", f"docker-archive:{archive}:{tag}"], timeout=timeout)
    finally:
        auth.unlink(missing_ok=True)
    return _config_digest(archive)


def _config_digest(archive: Path) -> str:
    """skopeo names the archive's config file by its digest (`<hex>.json` in manifest.json)."""
    try:
        with tarfile.open(archive) as tar:
            manifest = json.load(tar.extractfile("manifest.json"))
        return manifest[0]["Config"].removesuffix(".json").removeprefix("sha256:")
    except (OSError, tarfile.TarError, KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise ImagePullError(f"unreadable image archive from the registry: {exc}") from exc
