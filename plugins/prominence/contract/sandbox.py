"""A job's sandbox: the directory its tasks share (spec §13.1), laid out in one place.

The api-server creates it at submission (spec §6.1: inputs written, empty stdout/stderr);
tasks read the job from it and stream their output into it; the API serves logs from it.

Its root is 0711: a job's uid may pass through to its own home, tmp and scratch directories
(its own, 0700, handed over by the worker), never list or read the rest. What the stack reads
back (job, token, reports, logs) stays root's: a log the job could replace by a link would make
the API read any file for it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prominence.config import get_settings


@dataclass(frozen=True)
class Sandbox:
    root: Path

    @classmethod
    def of(cls, job_uuid: str) -> Sandbox:
        return cls(get_settings().sandboxes / job_uuid)

    @property
    def job_file(self) -> Path:
        return self.root / "job.json"

    @property
    def token_file(self) -> Path:
        return self.root / "token"

    @property
    def home(self) -> Path:
        """Mounted at /home/user in every task: the job's shared working area."""
        return self.root / "userhome"

    @property
    def tmp(self) -> Path:
        return self.root / "usertmp"

    @property
    def scratch(self) -> Path:
        """The container runtime's own files for this job (udocker's containers, apptainer's
        temporary root), owned by the job's uid but never mounted into its containers."""
        return self.root / "runtime"

    @property
    def identity_file(self) -> Path:
        """The uid the job's tasks run as, recorded by its first task for the later ones."""
        return self.root / "uid"

    @property
    def namespace_file(self) -> Path:
        """The running task's namespaces (contract/namespace.py), present while a task runs."""
        return self.root / "json" / "namespace.json"

    @property
    def stop_file(self) -> Path:
        """Written when the job is deleted: its running container is killed, not left to a
        later try to re-attach to (`runtimes/execution.py`)."""
        return self.root / "stopped"

    def log(self, stream: str) -> Path:
        return self.root / "logs" / stream

    def report_file(self, index: int) -> Path:
        return self.root / "json" / f"task-{index}.json"

    @property
    def staging_file(self) -> Path:
        """What stage-in and stage-out move (artifact sources, output keys), written at submission."""
        return self.root / "staging.json"

    def stage_report_file(self, stage: str) -> Path:
        """The report of `stagein` or `stageout` (spec §13.9), read by describe for output URLs."""
        return self.root / "json" / f"{stage}.json"

    def write_inputs(self, inputs: list[dict[str, Any]]) -> None:
        """Spec §3.5: each input's basename in the home, mode 0775 when `executable`."""
        for item in inputs:
            name = item["filename"].rsplit("/", 1)[-1]
            mode = 0o775 if item.get("executable") else 0o644
            fd = os.open(self.home / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
            with os.fdopen(fd, "wb") as handle:
                handle.write(base64.b64decode(item["content"]))
            os.chmod(self.home / name, mode)

    def read_json(self, path: Path) -> Any:
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None

    def write_json(self, path: Path, value: Any) -> None:
        _replace_private(path, json.dumps(value))

    def create(self, job: dict[str, Any], token: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o711)
        for path in (self.home, self.tmp, self.root / "logs", self.root / "json"):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        for stream in ("stdout", "stderr"):
            self.log(stream).touch(mode=0o600)
        _write_private(self.job_file, json.dumps(job))
        _write_private(self.token_file, token)

    def reset(self, inputs: list[dict[str, Any]]) -> None:
        """Back to what it was at submission, for a job retry (scheduler/retry.py): the reports,
        the home, tmp and the runtime's files of the failed attempt go, the inputs are written
        again; the logs stay (the next attempt appends to them). The recorded uid goes too, so
        the next attempt's first task hands the directories over whole again."""
        for directory in (self.root / "json", self.home, self.tmp, self.scratch):
            if directory.is_dir() and not directory.is_symlink():
                for child in directory.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
        self.identity_file.unlink(missing_ok=True)
        self.write_inputs(inputs)

    def read_job(self) -> dict[str, Any]:
        return json.loads(self.job_file.read_text())

    def read_report(self, index: int) -> dict[str, Any] | None:
        try:
            return json.loads(self.report_file(index).read_text())
        except FileNotFoundError:
            return None

    def write_report(self, index: int, report: dict[str, Any]) -> None:
        _replace_private(self.report_file(index), json.dumps(report))

    def log_view(self, stream: str) -> LogView | None:
        """The log as served: at most the stored cap, then the cut marker; None when absent."""
        try:
            size = self.log(stream).stat().st_size
        except FileNotFoundError:
            return None
        return LogView(self.log(stream), size, get_settings().max_log_bytes)


READ_CHUNK = 64 * 1024


def cut_marker(limit: int) -> bytes:
    return f"\n[prominence: log cut at {limit} bytes]\n".encode()


def cap_log(path: Path, limit: int) -> bool:
    """Cut a log growing past `limit` bytes back to `limit` plus the cut marker; True when cut.
    The process manager calls it while its task writes (an appending writer keeps appending
    after the marker, and the next call cuts that again), so a job stores at most the cap."""
    marker = cut_marker(limit)
    try:
        if path.stat().st_size <= limit + len(marker):
            return False
        with path.open("r+b") as handle:
            handle.seek(limit)
            handle.write(marker)
            handle.truncate(limit + len(marker))
    except FileNotFoundError:
        return False
    return True


@dataclass(frozen=True)
class LogView:
    """A log file as the API serves it: the first `limit` bytes, then the cut marker when the
    file holds more (whether or not its writer has cut it yet). Read in chunks, never whole."""

    path: Path
    file_size: int
    limit: int

    @property
    def size(self) -> int:
        return self.file_size if self.file_size <= self.limit else self.limit + len(cut_marker(self.limit))

    def chunks(self, start: int, end: int) -> Iterator[bytes]:
        """Bytes `start` to `end` (exclusive) of the view."""
        stored_end = min(end, self.limit, self.file_size)
        if start < stored_end:
            with self.path.open("rb") as handle:
                handle.seek(start)
                position = start
                while position < stored_end:
                    chunk = handle.read(min(READ_CHUNK, stored_end - position))
                    if not chunk:
                        return
                    position += len(chunk)
                    yield chunk
        if end > self.limit and self.file_size > self.limit:
            marker = cut_marker(self.limit)
            yield marker[max(start - self.limit, 0) : end - self.limit]


def _replace_private(path: Path, text: str) -> None:
    """Write `path` whole or not at all: a temporary file of this thread, then a rename (two
    tries of a task may write a report at once while the API reads it)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    _write_private(tmp, text)
    tmp.replace(path)


def _write_private(path: Path, text: str) -> None:
    """Write `path` as 0600 (readable by the stack only, whatever the umask)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
