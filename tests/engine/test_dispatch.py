"""The admission pass's run creation: a job whose run cannot be created ends `failed` with a
reason after a bounded number of passes, and never holds up the others."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from types import SimpleNamespace

import pytest

from prominence.config import get_settings
from prominence.engine import dispatch
from prominence.engine.admission import Plan, Waiting
from prominence.engine.resources import Grant
from prominence.store.signals import ADMISSION_SOCKET, Wakeup, hint, socket_path


@pytest.fixture
def world(monkeypatch, tmp_path):
    """Two admitted jobs; creating the run of job 1 always raises."""
    monkeypatch.setenv("PROMINENCE_HOME", str(tmp_path))
    get_settings.cache_clear()
    state = SimpleNamespace(runs={}, finished={})
    rows = {
        i: SimpleNamespace(
            id=i, uuid=f"u{i}", spec={}, workflow_id=None, create_time=0, owner="a", status="idle", status_reason=None
        )
        for i in (1, 2)
    }

    @contextmanager
    def scope(write=False):
        yield None

    def decide(session, now):
        waiting = [Waiting(i, "a", 0, {}) for i in rows if i not in state.runs and i not in state.finished]
        return Plan(start=[(job, Grant(1, 1.0, 1)) for job in waiting]), rows

    def start_run(session, job_id, conf, tasks, created, owner, name):
        if job_id == 1:
            raise RuntimeError("trigger_dag failed")
        state.runs[job_id] = conf

    def finish(session, job_id, **values):
        state.finished[job_id] = values
        return True

    monkeypatch.setattr(dispatch, "session_scope", scope)
    monkeypatch.setattr(dispatch, "_decide", decide)
    monkeypatch.setattr(dispatch, "parse_job", lambda spec, in_workflow: SimpleNamespace(tasks=[None], name=""))
    monkeypatch.setattr(dispatch, "run_conf", lambda *args: {"cpus": args[-1].cpus})
    monkeypatch.setattr(dispatch.runs, "start_run", start_run)
    monkeypatch.setattr(dispatch.store, "finish_job", finish)
    monkeypatch.setattr(dispatch.store, "get_job", lambda session, job_id: rows[job_id])
    yield state
    get_settings.cache_clear()


def test_a_job_whose_run_cannot_be_created_fails_with_a_reason_and_the_others_start(world):
    assert dispatch.admit_waiting(now=0) == 1
    assert world.runs == {2: {"cpus": 1}} and world.finished == {}
    for _ in range(dispatch.MAX_START_ATTEMPTS - 1):
        dispatch.admit_waiting(now=0)
    assert world.finished[1]["status"] == "failed"
    assert world.finished[1]["reason"] == dispatch.START_FAILED


def test_the_admission_loop_passes_at_once_when_a_run_ends(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMINENCE_HOME", str(tmp_path))
    get_settings.cache_clear()
    passes = []
    monkeypatch.setattr(dispatch, "_pass", lambda: passes.append(time.monotonic()))
    threading.Thread(target=dispatch.run_forever, kwargs={"interval": 600}, daemon=True).start()
    deadline = time.monotonic() + 30
    while not passes and time.monotonic() < deadline:
        time.sleep(0.01)
    hint(ADMISSION_SOCKET)
    while len(passes) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(passes) == 2
    assert socket_path(ADMISSION_SOCKET).stat().st_mode & 0o777 == 0o600
    get_settings.cache_clear()


def test_an_accepted_job_asks_the_admission_loop_for_a_pass(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMINENCE_HOME", str(tmp_path))
    get_settings.cache_clear()
    wakeup = Wakeup(ADMISSION_SOCKET)
    dispatch.enqueue()
    assert wakeup.wait(5)
    get_settings.cache_clear()
