"""Sandboxes are deleted once their retention after the job (or workflow) ended has passed,
never while it runs, and leftovers no row claims once they are as old."""

from __future__ import annotations

import os
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, insert
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from prominence.config import get_settings
from prominence.engine.retention import sweep_sandboxes
from prominence.store.tables import jobs, metadata, workflows

HOUR = 3600
NOW = 1_000_000_000


@pytest.fixture
def sessions():
    engine = create_engine("sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool)
    metadata.create_all(engine)

    @contextmanager
    def scope():
        with Session(engine) as session, session.begin():
            yield session

    return scope


@pytest.fixture
def sandboxes(tmp_path, monkeypatch):
    monkeypatch.setattr(get_settings(), "home", tmp_path)
    monkeypatch.setattr(get_settings(), "sandbox_retention_hours", 2)
    return tmp_path / "sandboxes"


def job(sessions, sandboxes, uuid: str, status: str, end_time: int | None) -> None:
    (sandboxes / uuid / "logs").mkdir(parents=True)
    with sessions() as session:
        session.execute(
            insert(jobs).values(
                id=abs(hash(uuid)) % 10**6, uuid=uuid, owner="alice", status=status, spec={}, create_time=0, end_time=end_time
            )
        )


def test_only_sandboxes_past_their_retention_are_deleted(sessions, sandboxes):
    job(sessions, sandboxes, "ended-long-ago", "completed", NOW - 3 * HOUR)
    job(sessions, sandboxes, "deleted-long-ago", "deleted", NOW - 2 * HOUR)
    job(sessions, sandboxes, "ended-recently", "failed", NOW - HOUR)
    job(sessions, sandboxes, "still-running", "idle", None)
    (sandboxes / "workflow-7").mkdir()
    (sandboxes / "workflow-8").mkdir()
    with sessions() as session:
        session.execute(
            insert(workflows).values(
                id=7, uuid="w7", owner="alice", status="completed", spec={}, create_time=0, end_time=NOW - 5 * HOUR, lineage=[]
            )
        )
        session.execute(
            insert(workflows).values(id=8, uuid="w8", owner="alice", status="idle", spec={}, create_time=0, lineage=[])
        )
    deleted = sweep_sandboxes(NOW, sessions)
    assert sorted(path.name for path in deleted) == ["deleted-long-ago", "ended-long-ago", "workflow-7"]
    assert sorted(path.name for path in sandboxes.iterdir()) == ["ended-recently", "still-running", "workflow-8"]
    assert sweep_sandboxes(NOW, sessions) == []


def test_a_directory_no_row_claims_goes_once_it_is_as_old(sessions, sandboxes):
    for name, age in (("old-leftover", 3 * HOUR), ("being-submitted", 0)):
        (sandboxes / name).mkdir(parents=True)
        os.utime(sandboxes / name, (NOW - age, NOW - age))
    assert [path.name for path in sweep_sandboxes(NOW, sessions)] == ["old-leftover"]
    assert [path.name for path in sandboxes.iterdir()] == ["being-submitted"]


def test_no_sandboxes_folder_is_nothing_to_do(sessions, sandboxes):
    assert sweep_sandboxes(NOW, sessions) == []
