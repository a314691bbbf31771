"""Every DAG run a process creates wakes a resting scheduler once committed (engine/runs.py),
whoever creates it: admission or Airflow's own API (real ORM, real SQLite, Airflow's tables)."""

from __future__ import annotations

import pytest
from airflow.models.dagrun import DagRun
from airflow.models.tasklog import LogTemplate
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from prominence.config import get_settings
from prominence.engine import runs
from prominence.store.signals import SCHEDULER_SOCKET, Wakeup


@pytest.fixture
def session(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMINENCE_HOME", str(tmp_path))
    get_settings.cache_clear()
    engine = create_engine("sqlite://")
    LogTemplate.__table__.create(engine)
    DagRun.__table__.create(engine)
    with Session(engine) as session:
        yield session
    get_settings.cache_clear()


def new_run(run_id: str) -> DagRun:
    return DagRun(dag_id="any_dag", run_id=run_id, run_type="manual", state="queued")


def test_a_run_inserted_wakes_the_scheduler_once_committed(session):
    wakeup = Wakeup(SCHEDULER_SOCKET)
    runs.wake_scheduler_on_new_runs()
    session.add(new_run("first"))
    session.flush()
    assert not wakeup.wait(0)
    session.commit()
    assert wakeup.wait(5)
    assert not wakeup.wait(0)


def test_a_run_rolled_back_wakes_nothing(session):
    wakeup = Wakeup(SCHEDULER_SOCKET)
    runs.wake_scheduler_on_new_runs()
    session.add(new_run("second"))
    session.flush()
    session.rollback()
    session.commit()
    assert not wakeup.wait(0)
