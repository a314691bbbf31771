"""What every runtime module shares at the bottom of the package: its errors and the file lock
(no import of the other runtime modules, so the process manager, the confinement and the
runtimes can all use them)."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class RuntimeNotAvailableError(RuntimeError):
    """The runtime's executable is not installed on this worker."""


class ImagePullError(RuntimeError):
    """The image could not be pulled or prepared: the job fails with `Container image pull failed`."""


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if absent) for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
