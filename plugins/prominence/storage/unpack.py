"""Archives in and out of a job's home, never touching anything outside it.

Stage-in unpacks artifacts by suffix (spec §13.3) with every member checked first: no absolute
name, no `..`, no link or device leaving the target (tarfile's `data` filter), nothing landing
outside the target once earlier members' symlinks are followed, and no more bytes than the job's
disk allows (an archive bomb fails, it does not fill the worker). Stage-out packs output
directories without following symlinks, so a job cannot publish a host file through a link.
"""

from __future__ import annotations

import bz2
import gzip
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

CHUNK = 1024 * 1024
TAR_SUFFIXES = {".tgz": "r:gz", ".tar.gz": "r:gz", ".tar.bz2": "r:bz2", ".tar": "r:"}
STREAM_SUFFIXES = {".gz": gzip.open, ".bz2": bz2.open}


class UnpackError(Exception):
    """The archive is corrupt, unsafe or too large: `Artifact uncompress failed`."""


def is_archive(name: str) -> bool:
    return any(name.endswith(s) for s in (*TAR_SUFFIXES, ".zip", *STREAM_SUFFIXES))


def unpack(archive: Path, target: Path, max_bytes: int) -> None:
    """Extract `archive` (by its suffix) into `target`, then delete it; UnpackError on any problem."""
    name = archive.name
    try:
        mode = next((m for s, m in TAR_SUFFIXES.items() if name.endswith(s)), None)
        if mode is not None:
            _untar(archive, target, mode, max_bytes)
        elif name.endswith(".zip"):
            _unzip(archive, target, max_bytes)
        else:
            suffix = next(s for s in STREAM_SUFFIXES if name.endswith(s))
            _decompress(archive, target / name[: -len(suffix)], STREAM_SUFFIXES[suffix], max_bytes)
    except (OSError, EOFError, tarfile.TarError, zipfile.BadZipFile, ValueError) as exc:
        raise UnpackError(f"{name}: {exc}") from exc
    archive.unlink()


def _inside(target: Path, member: str) -> Path:
    """Where `member` lands in `target`, refused if its name or the links on its way leave it."""
    pure = PurePosixPath(member)
    if pure.is_absolute() or ".." in pure.parts or "\x00" in member:
        raise UnpackError(f"unsafe member name {member!r}")
    root = target.resolve()
    path = (root / pure).resolve()
    if path != root and not path.is_relative_to(root):
        raise UnpackError(f"member {member!r} would land outside the job's home")
    return path


def _untar(archive: Path, target: Path, mode: str, max_bytes: int) -> None:
    with tarfile.open(archive, mode) as tar:
        members = tar.getmembers()
        if sum(m.size for m in members if m.isfile()) > max_bytes:
            raise UnpackError("contents larger than the job's disk")
        for member in members:
            _inside(target, member.name)
            # `data` refuses absolute and `..` names, links leaving the target, devices, and
            # drops set-id bits; extracting one member at a time re-checks the earlier links.
            tar.extract(member, target, filter="data")


def _unzip(archive: Path, target: Path, max_bytes: int) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        if sum(i.file_size for i in infos) > max_bytes:
            raise UnpackError("contents larger than the job's disk")
        for info in infos:
            path = _inside(target, info.filename)
            if info.is_dir():
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            # Written by us as a regular file: a zip symlink entry becomes a file holding its target.
            with zf.open(info) as src, open(path, "wb") as dst:
                _copy(src, dst, max_bytes)


def _decompress(archive: Path, dest: Path, opener, max_bytes: int) -> None:
    _inside(dest.parent, dest.name)
    with opener(archive, "rb") as src, open(dest, "wb") as dst:
        _copy(src, dst, max_bytes)


def _copy(src, dst, max_bytes: int) -> None:
    written = 0
    while chunk := src.read(CHUNK):
        written += len(chunk)
        if written > max_bytes:
            raise UnpackError("contents larger than the job's disk")
        dst.write(chunk)


def make_tarball(home: Path, directory: str, dest: Path) -> None:
    """`dest` = gzip tar of `home/directory`, stored under the path as given (spec §9).
    Symlinks are stored as links, never followed."""
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(home / directory, arcname=directory.strip("/"), recursive=True)
