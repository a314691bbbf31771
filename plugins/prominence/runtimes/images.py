"""Image files fetched for a task (URLs and uploaded images, spec §13.5) and the worker's cache
of images by checksum (spec §13.4), which every runtime on this worker shares.

The cache holds only what any job may get again: images pulled with a credential stay in their
job's sandbox. Its files are the worker's, read-only to the jobs' uids; an entry appears by an
atomic rename, so a half-written image is never found.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import posixpath
import shutil
import tarfile
from pathlib import Path

from prominence.config import get_settings
from prominence.runtimes.errors import ImagePullError
from prominence.runtimes.spec import ImageSource

GZIP_MAGIC = b"\x1f\x8b"
TAR_MAGIC = b"ustar"  # at offset 257 of a tar file


def sha256_of(path: Path) -> str:
    with Path(path).open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def check_sha256(source: ImageSource, actual: str | None) -> None:
    """A pull whose image is not the one `imageSha256` names fails (spec §3.3)."""
    if source.sha256 and (actual or "").lower() != source.sha256.lower().removeprefix("sha256:"):
        raise ImagePullError(f"image checksum {actual} does not match imageSha256 {source.sha256}")


def fetch_image(source: ImageSource, directory: Path) -> tuple[Path, str]:
    """Fetch the image file into `directory`, check its checksum and return (a file the runtime
    reads: the archive ungzipped, or the image as fetched; the checksum of what was fetched).
    `source.fetch` raises ImagePullError when the download fails."""
    download = directory / "download"
    source.fetch(download)
    sha256 = sha256_of(download)
    check_sha256(source, sha256)
    with download.open("rb") as handle:
        gzipped = handle.read(2) == GZIP_MAGIC
    if not gzipped:
        return download, sha256
    archive = directory / "image.tar"
    try:
        with gzip.open(download, "rb") as packed, archive.open("wb") as out:
            shutil.copyfileobj(packed, out, 1024 * 1024)
    except (OSError, EOFError) as exc:
        raise ImagePullError(f"image archive cannot be decompressed: {exc}") from exc
    download.unlink()
    return archive, sha256


def is_archive(path: Path) -> bool:
    """A tar file (`docker save`), not a Singularity image."""
    with Path(path).open("rb") as handle:
        handle.seek(257)
        return handle.read(5) == TAR_MAGIC


def dereference_links(archive: Path) -> None:
    """Replace the links of a `docker save` archive by the files they name.

    skopeo's and podman's archives make each `<id>/layer.tar` a link to the layer's file, and
    udocker's loader moves the link as it is, dangling (`getting layers or json` at create)."""
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        if not any(member.issym() or member.islnk() for member in members):
            return
        files = {member.name: member for member in members if member.isfile()}
        rewritten = archive.with_name(archive.name + ".plain")
        with tarfile.open(rewritten, "w") as out:
            for member in members:
                if member.issym() or member.islnk():
                    base = posixpath.dirname(member.name) if member.issym() else ""
                    target = files.get(posixpath.normpath(posixpath.join(base, member.linkname)))
                    if target is None:
                        raise ImagePullError(f"image archive: {member.name} links outside the archive")
                    info = tarfile.TarInfo(member.name)
                    info.size, info.mode = target.size, target.mode
                    out.addfile(info, tar.extractfile(target))
                else:
                    out.addfile(member, tar.extractfile(member) if member.isfile() else None)
    rewritten.replace(archive)


def cache_dir(runtime: str) -> Path:
    return get_settings().home / "image-cache" / runtime


def cached(runtime: str, sha256: str | None, into: Path) -> Path | None:
    """The cached image with this checksum linked as `into` (the job's own name for it, which
    eviction leaves alone), if this worker has one; the entry counts as just used."""
    if not sha256:
        return None
    entry = cache_dir(runtime) / sha256.lower().removeprefix("sha256:")
    try:
        os.utime(entry)
        _link_or_copy(entry, into)
    except FileNotFoundError:
        return None
    return into


def store(runtime: str, sha256: str, image: Path) -> None:
    """Keep `image` (made read-only to others) in the cache: a hard link where it can be. Then
    the least recently used entries leave until the cache fits `image_cache_bytes`."""
    directory = cache_dir(runtime)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    entry = directory / sha256
    if entry.exists():
        return
    tmp = directory / f".{sha256}.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    _link_or_copy(image, tmp)
    tmp.chmod(0o644)
    tmp.replace(entry)
    evict(directory, get_settings().image_cache_bytes, keep=entry)


def evict(directory: Path, limit: int, keep: Path) -> None:
    """Remove the entries used longest ago (mtime) until the rest fit `limit` bytes; `keep`, the
    one just stored, stays even alone over it. Jobs hold their own links: none loses its image."""
    entries = []
    for path in directory.iterdir():
        try:
            info = path.stat()
        except FileNotFoundError:
            continue
        if not path.name.startswith("."):
            entries.append((info.st_mtime, info.st_size, path))
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries):
        if total <= limit:
            return
        if path != keep:
            path.unlink(missing_ok=True)
            total -= size


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except FileNotFoundError:
        raise  # no such entry: nothing to copy either
    except OSError:  # another file system
        shutil.copyfile(source, target)
