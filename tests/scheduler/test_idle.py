"""The scheduler's rest while nothing runs (scheduler/idle.py): woken by the commit of a new run,
sleeping as Airflow asks whenever a run is queued or running or a timer is due."""

from __future__ import annotations

import ast
import inspect
import sys
import threading
import time
from types import ModuleType

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from prominence.config import get_settings
from prominence.scheduler import idle
from prominence.store.signals import run_created_on_commit

IDLE_SLEEP = 0.1


@pytest.fixture(autouse=True)
def home(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMINENCE_HOME", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def timed(rest: idle.IdleRest, seconds: float) -> float:
    started = time.monotonic()
    rest.sleep(seconds)
    return time.monotonic() - started


def test_a_committed_run_ends_the_rest(monkeypatch):
    monkeypatch.setattr(idle, "REST_SECONDS", 60)
    rest = idle.IdleRest(IDLE_SLEEP, runs_active=lambda: False)
    rest.sleep(0)  # binds its socket
    session = Session(create_engine("sqlite://"))
    run_created_on_commit(session)
    threading.Timer(0.3, session.commit).start()
    assert timed(rest, IDLE_SLEEP) < 30


def test_a_rolled_back_run_leaves_it_resting(monkeypatch):
    monkeypatch.setattr(idle, "REST_SECONDS", 1.0)
    rest = idle.IdleRest(IDLE_SLEEP, runs_active=lambda: False)
    session = Session(create_engine("sqlite://"))
    run_created_on_commit(session)
    session.rollback()
    assert timed(rest, IDLE_SLEEP) >= 1.0


def test_while_a_run_is_active_or_a_timer_is_due_it_sleeps_as_asked(monkeypatch):
    monkeypatch.setattr(idle, "REST_SECONDS", 60)
    assert timed(idle.IdleRest(IDLE_SLEEP, runs_active=lambda: True), IDLE_SLEEP) < 30
    assert timed(idle.IdleRest(IDLE_SLEEP, runs_active=lambda: False), IDLE_SLEEP / 2) < 30


def test_runs_seen_active_are_not_looked_for_again_within_the_recheck(monkeypatch):
    monkeypatch.setattr(idle, "REST_SECONDS", 60)
    looks = []
    rest = idle.IdleRest(IDLE_SLEEP, runs_active=lambda: looks.append(1) or True)
    for _ in range(3):
        rest.sleep(IDLE_SLEEP)
    assert len(looks) == 1
    monkeypatch.setattr(idle, "ACTIVE_RECHECK_SECONDS", 0)
    rest.active_until = 0.0
    rest.sleep(IDLE_SLEEP)
    rest.sleep(IDLE_SLEEP)
    assert len(looks) == 3


def test_without_its_socket_it_sleeps_as_asked(monkeypatch, home):
    monkeypatch.setattr(idle, "REST_SECONDS", 60)
    monkeypatch.setenv("PROMINENCE_HOME", str(home / ("x" * 120)))  # too long a socket path
    get_settings.cache_clear()
    rest = idle.IdleRest(IDLE_SLEEP, runs_active=lambda: False)
    assert timed(rest, IDLE_SLEEP) < 30 and rest.unavailable


def test_only_a_process_with_the_scheduler_loop_rests(monkeypatch):
    monkeypatch.delitem(sys.modules, idle.SCHEDULER_MODULE, raising=False)
    idle.install()
    runner = ModuleType(idle.SCHEDULER_MODULE)
    runner.time = time
    monkeypatch.setitem(sys.modules, idle.SCHEDULER_MODULE, runner)
    idle.install()
    installed = runner.time
    assert isinstance(installed, idle.IdleRest) and installed.monotonic is time.monotonic
    idle.install()
    assert runner.time is installed


def test_airflows_scheduler_loop_sleeps_through_its_modules_time_alone():
    """What the rest stands in for: if Airflow changes its loop, this says so."""
    # Airflow's scheduler module loads here only: the other tests use fakes of it.
    from airflow.jobs import scheduler_job_runner

    tree = ast.parse(inspect.getsource(scheduler_job_runner))
    uses = [
        (function.name, node.attr)
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef)
        for node in ast.walk(function)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "time"
    ]
    assert uses == [("_run_scheduler_loop", "sleep")]
