"""A job's sandbox: the directory its tasks share (spec §13.1), laid out in one place.

The api-server creates it at submission (spec §6.1: inputs written, empty stdout/stderr);
tasks read the job from it and stream their output into it; the API serves logs from it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Sandbox:
    root: Path

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

    def log(self, stream: str) -> Path:
        return self.root / "logs" / stream

    def report_file(self, index: int) -> Path:
        return self.root / "json" / f"task-{index}.json"

    def create(self, job: dict[str, Any], token: str) -> None:
        for path in (self.home, self.tmp, self.root / "logs", self.root / "json"):
            path.mkdir(parents=True, exist_ok=True)
        for stream in ("stdout", "stderr"):
            self.log(stream).touch()
        self.job_file.write_text(json.dumps(job))
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token)

    def read_job(self) -> dict[str, Any]:
        return json.loads(self.job_file.read_text())

    def read_report(self, index: int) -> dict[str, Any] | None:
        try:
            return json.loads(self.report_file(index).read_text())
        except FileNotFoundError:
            return None

    def write_report(self, index: int, report: dict[str, Any]) -> None:
        path = self.report_file(index)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(report))
        tmp.replace(path)

    def read_log(self, stream: str, offset: int) -> bytes | None:
        try:
            with self.log(stream).open("rb") as handle:
                handle.seek(max(offset, 0))
                return handle.read()
        except FileNotFoundError:
            return None
