"""schemathesis against the committed api/openapi.yaml, on the real app in-process (in-memory
database, moto S3, Airflow's side faked): over a thousand generated requests, none answered
with a 5xx, every answer's status declared and its body matching the schema."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from sqlalchemy import insert
from sqlalchemy.orm import Session

from prominence.config import get_settings
from prominence.contract.sandbox import Sandbox
from prominence.engine import dispatch, live, runs, submission
from prominence.engine import workflows as workflow_engine
from prominence.rest import health
from prominence.store.tables import jobs

SCHEMA = schemathesis.openapi.from_path(Path(__file__).resolve().parents[2] / "api" / "openapi.yaml")
EXAMPLES_PER_OPERATION = 30
MIN_REQUESTS = 1000
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
calls: dict[str, int] = {}


@pytest.fixture
def fuzzed(app, engine, as_user, s3, monkeypatch, tmp_path):
    """The app as alice, with a job of hers that has logs; the engine writes to the test's
    database and creates no Airflow runs."""

    @contextmanager
    def scope(write: bool = False):
        with Session(engine) as session, session.begin():
            yield session

    for module in (submission, workflow_engine):
        monkeypatch.setattr(module, "session_scope", scope)
        monkeypatch.setattr(module, "commit_store", lambda session: None)
    monkeypatch.setattr(dispatch, "enqueue", lambda: None)
    monkeypatch.setattr(live, "start_times", lambda session, job_ids: {})
    monkeypatch.setattr(runs, "stop_run", lambda session, job_id: False)
    monkeypatch.setattr(get_settings(), "home", tmp_path)
    s3()
    with engine.begin() as connection:
        connection.execute(
            insert(jobs).values(id=1, uuid="u1", owner="alice", status="running", spec={"tasks": []}, create_time=1)
        )
    for stream in ("stdout", "stderr"):
        Sandbox.of("u1").log(stream).parent.mkdir(parents=True, exist_ok=True)
        Sandbox.of("u1").log(stream).write_bytes(b"line\n" * 100)
    app.dependency_overrides[health.checks] = lambda: {"DATABASE": lambda: True}
    as_user("alice", groups="team")
    return app


@pytest.fixture(scope="module", autouse=True)
def enough_requests():
    yield
    if len(calls) == len(list(SCHEMA.get_all_operations())):
        print(f"schemathesis: {sum(calls.values())} requests", calls)
        assert sum(calls.values()) >= MIN_REQUESTS, calls


@SCHEMA.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_server_error_and_every_answer_as_documented(case, fuzzed):
    calls[case.operation.label] = calls.get(case.operation.label, 0) + 1
    response = case.call(app=fuzzed, base_url="http://test", headers={"Authorization": "Bearer overridden-by-the-test"})
    case.validate_response(response, checks=CHECKS)
