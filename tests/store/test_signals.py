"""The marks a workflow's job leaves when it ends (real SQLite): both appear once the end is
committed, none after a rollback, for a job outside a workflow or for an end written already."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, insert
from sqlalchemy.orm import Session

from prominence.config import get_settings
from prominence.contract.workflows import ended_marks, events_file
from prominence.store import jobs as store
from prominence.store import signals
from prominence.store.tables import jobs, metadata


@pytest.fixture
def session(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMINENCE_HOME", str(tmp_path))
    get_settings.cache_clear()
    events_file(4).parent.mkdir(parents=True)
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with Session(engine) as session:
        for job_id, workflow_id in ((1, 4), (2, None)):
            session.execute(
                insert(jobs).values(
                    id=job_id, uuid=f"u{job_id}", owner="a", status="running", spec={}, create_time=0, workflow_id=workflow_id
                )
            )
        session.commit()
        yield session
    get_settings.cache_clear()


def finish(session, job_id: int) -> bool:
    return store.finish_job(session, job_id, status="completed", reason=None, end_time=1)


def marks() -> list[str]:
    return sorted(path.name for path in ended_marks().iterdir()) if ended_marks().is_dir() else []


def test_an_end_marks_its_workflow_once_committed(session):
    assert finish(session, 1)
    assert not events_file(4).exists() and marks() == []
    session.commit()
    assert events_file(4).exists() and marks() == ["4"]
    before = events_file(4).stat().st_mtime_ns
    (ended_marks() / "4").unlink()
    assert not finish(session, 1)
    session.commit()
    assert marks() == [] and events_file(4).stat().st_mtime_ns == before


def test_a_rolled_back_end_or_a_job_outside_a_workflow_leaves_no_mark(session):
    assert finish(session, 1)
    session.rollback()
    assert finish(session, 2)
    session.commit()
    assert marks() == [] and not events_file(4).exists()


def test_an_ended_run_wakes_the_admission_loop_once_its_session_commits(session):
    wakeup = signals.Wakeup(signals.ADMISSION_SOCKET)
    signals.run_ended_on_commit(session)
    assert not wakeup.wait(0)
    session.commit()
    assert wakeup.wait(5)
    assert not wakeup.wait(0)
    session.commit()
    assert not wakeup.wait(0)


def test_a_rolled_back_run_end_wakes_nothing(session):
    wakeup = signals.Wakeup(signals.ADMISSION_SOCKET)
    assert finish(session, 2)  # the run's end is written in the transaction that rolls back
    signals.run_ended_on_commit(session)
    session.rollback()
    session.commit()
    assert not wakeup.wait(0)


def test_without_a_listener_a_hint_is_harmless(session):
    signals.hint(signals.ADMISSION_SOCKET)
    assert not signals.socket_path(signals.ADMISSION_SOCKET).exists()
