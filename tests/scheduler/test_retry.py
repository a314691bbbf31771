"""Job retries (scheduler/retry.py) on a real SQLite jobs table: which failures are run again,
and how each attempt is kept in the job's execution until the job ends."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, insert
from sqlalchemy.orm import Session

from prominence.contract.tasks import CONF_KEY
from prominence.scheduler import retry
from prominence.store import jobs as store
from prominence.store.tables import jobs, metadata


@pytest.fixture
def session():
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with Session(engine) as session:
        session.execute(insert(jobs).values(id=7, uuid="u7", owner="alice", status="idle", spec={}, create_time=0))
        yield session


@pytest.mark.parametrize(
    "failure, conf, done, expected",
    [
        ("task", {"max_retries": 2}, 0, True),
        ("task", {"max_retries": 2}, 2, False),
        ("task", {"max_retries": 2, "task_failures_ok": True}, 0, False),
        ("image", {"max_retries": 1}, 0, True),
        ("staging", {"max_retries": 1}, 0, True),
        ("infrastructure", {"max_retries": 1}, 0, True),
        ("walltime", {"max_retries": 6}, 0, False),
        ("memory", {"max_retries": 6}, 0, False),
        (None, {"max_retries": 6}, 0, False),
        ("task", {}, 0, False),
    ],
)
def test_which_attempts_are_run_again(failure, conf, done, expected):
    assert retry.wants_retry(failure, conf, done) is expected


def run(clear_number: int, max_retries: int = 2) -> SimpleNamespace:
    return SimpleNamespace(conf={CONF_KEY: {"job_id": 7, "max_retries": max_retries}}, clear_number=clear_number)


def ended(monkeypatch, failure: str | None, status: str = "failed", reason: str | None = "Container image pull failed"):
    result = {"status": status, "reason": reason, "end_time": 50, "start_time": 40, "execution": {"tasks": []}}
    result |= {"succeeded": failure is None, "failure": failure, "failure_reason": reason}
    monkeypatch.setattr(retry, "outcome_of", lambda session, dag_run: dict(result, execution=dict(result["execution"])))


def test_failed_attempts_are_kept_and_the_last_one_ends_the_job(session, monkeypatch):
    ended(monkeypatch, "image")
    assert retry.settle(session, session, run(0))
    # Settled twice (the listener, then the reconciler): still one entry for the attempt.
    assert retry.settle(session, session, run(0))
    row = store.get_job(session, 7)
    assert row.status == "idle"
    attempt = {"attempt": 1, "startTime": 40, "endTime": 50, "failure": "image", "reason": "Container image pull failed"}
    assert row.execution == {"retries": 1, "attempts": [attempt]}
    assert retry.settle(session, session, run(1))
    assert not retry.settle(session, session, run(2))
    row = store.get_job(session, 7)
    assert (row.status, row.status_reason, row.execution["retries"]) == ("failed", "Container image pull failed", 2)
    assert [(a["attempt"], a["failure"]) for a in row.execution["attempts"]] == [(1, "image"), (2, "image"), (3, "image")]


def test_a_retry_that_succeeds_ends_completed_with_both_attempts(session, monkeypatch):
    ended(monkeypatch, "task", status="completed", reason="Task 0 exited with code 1")
    assert retry.settle(session, session, run(0))
    ended(monkeypatch, None, status="completed", reason=None)
    assert not retry.settle(session, session, run(1))
    row = store.get_job(session, 7)
    assert (row.status, row.succeeded, row.execution["retries"]) == ("completed", True, 1)
    assert row.execution["attempts"][1] == {"attempt": 2, "startTime": 40, "endTime": 50}


def test_a_job_without_retries_has_no_attempts_and_a_terminal_job_is_left_alone(session, monkeypatch):
    ended(monkeypatch, "walltime", status="killed", reason="Walltime limit exceeded")
    assert not retry.settle(session, session, run(0, max_retries=0))
    assert store.get_job(session, 7).execution == {"tasks": []}
    assert not retry.settle(session, session, run(0))
    assert store.get_job(session, 7).status == "killed"
