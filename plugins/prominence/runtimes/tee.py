"""A task's `stdout` (spec §3.3, §13.6): its output, stderr merged, also appended to a file in the
job's home, while the job's stdout gets it as always.

The file is opened by the worker in a directory the job's uid controls, so nothing in the path
is followed: each directory is opened relative to the last with O_NOFOLLOW (missing ones are
made), the file is a regular one with a single link, and it ends up owned by the job's uid.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from pathlib import Path
from typing import IO

from prominence.runtimes.identity import JobIdentity

log = logging.getLogger(__name__)
CHUNK = 64 * 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def open_copy(home: Path, relative: str, identity: JobIdentity | None) -> int:
    """An O_APPEND descriptor of `home/relative`; OSError when the path is unsafe or unusable."""
    *dirs, name = [part for part in relative.split("/") if part]
    if name in ("", ".", "..") or any(part in (".", "..") for part in dirs):
        raise OSError(f"invalid path {relative!r}")
    fd = os.open(home, _DIR_FLAGS)
    try:
        for part in dirs:
            try:
                os.mkdir(part, 0o755, dir_fd=fd)
                if identity is not None:
                    os.chown(part, identity.uid, identity.gid, dir_fd=fd, follow_symlinks=False)
            except FileExistsError:
                pass
            inner = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = inner
        out = os.open(name, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644, dir_fd=fd)
    finally:
        os.close(fd)
    info = os.fstat(out)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(out)
        raise OSError(f"{relative!r} is not a plain file")
    os.set_blocking(out, True)
    if identity is not None:
        os.fchown(out, identity.uid, identity.gid)
    return out


def start_pump(source: IO[bytes], target: Path, copy: int) -> threading.Thread:
    """Copy `source` (the run's merged output) to `target` (the job's stdout) and to `copy` until
    it ends; the copy is closed then. A failing copy stops the copy, never the job's stdout."""

    def pump() -> None:
        keep = True
        with source, target.open("ab", buffering=0) as out:
            while chunk := source.read1(CHUNK):
                out.write(chunk)
                if keep:
                    try:
                        os.write(copy, chunk)
                    except OSError as exc:
                        log.warning("Task stdout file: %s; no longer written", exc)
                        keep = False
        os.close(copy)

    thread = threading.Thread(target=pump, name="prominence-task-stdout", daemon=True)
    thread.start()
    return thread
