"""The container's output in the Airflow task log while it runs, as the KubernetesPodOperator
does with a pod's log: what a run appends to the job's stdout and stderr files is logged line by
line, each prefixed with its stream, up to a cap per run (the files stay the full record, served
by the API; the task log is a file too, so no output reaches the metadata database)."""

from __future__ import annotations

import logging
from pathlib import Path

# Bytes of one read: a run writing faster is followed in several reads.
CHUNK_BYTES = 64 * 1024


class OutputFollower:
    """Follows `streams` (name → file) from their size now; `poll` logs the complete lines
    appended since (any of `hidden` in them as `***`), `close` the rest. A file cut shorter meanwhile (the stored-log cap) is
    followed from its new end."""

    def __init__(self, log: logging.Logger, streams: dict[str, Path], limit: int, hidden: tuple[str, ...] = ()) -> None:
        self.log = log
        # The job's token, should the job print it: no task log line holds a token.
        self.hidden = tuple(value.encode() for value in hidden if value)
        self.streams = streams
        self.limit = limit
        self.logged = 0
        self.offsets = {name: _size(path) for name, path in streams.items()}
        self.partial = {name: b"" for name in streams}

    def poll(self) -> None:
        for name, path in self.streams.items():
            if self.logged >= self.limit:
                return
            size = _size(path)
            if size < self.offsets[name]:
                self.offsets[name], self.partial[name] = size, b""
            while self.offsets[name] < size and self.logged < self.limit:
                with path.open("rb") as handle:
                    handle.seek(self.offsets[name])
                    chunk = handle.read(min(CHUNK_BYTES, size - self.offsets[name]))
                if not chunk:
                    break
                self.offsets[name] += len(chunk)
                *lines, self.partial[name] = (self.partial[name] + chunk).split(b"\n")
                for line in lines:
                    self._emit(name, line)

    def close(self) -> None:
        self.poll()
        for name, rest in self.partial.items():
            if rest:
                self._emit(name, rest)
        if self.logged >= self.limit:
            self.log.info("[output] more than %d bytes: the rest is in the job's stdout and stderr only", self.limit)

    def _emit(self, name: str, line: bytes) -> None:
        if self.logged < self.limit:
            self.logged += len(line) + 1
            for value in self.hidden:
                line = line.replace(value, b"***")
            self.log.info("[%s] %s", name, line.decode(errors="replace"))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
