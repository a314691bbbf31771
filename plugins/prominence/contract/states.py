"""Job and workflow states (spec §5.1) and which of them are final."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    PENDING = "pending"
    IDLE = "idle"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    KILLED = "killed"
    DELETED = "deleted"


# Plain strings, so database drivers bind them without knowing the enum.
TERMINAL: tuple[str, ...] = tuple(s.value for s in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.KILLED, JobStatus.DELETED))
