"""schemathesis against the committed api/openapi.yaml, on the real app in-process (in-memory
database, moto S3, Airflow's side faked): over a thousand generated requests, none answered
with a 5xx, every answer's status declared and its body matching the schema."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from sqlalchemy import insert
from sqlalchemy.orm import Session

from prominence.config import get_settings
from prominence.contract.sandbox import Sandbox
from prominence.engine import dispatch, live, runs, submission
from prominence.engine import workflows as workflow_engine
from prominence.rest import health
from prominence.store.tables import ids, jobs

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
        connection.execute(insert(ids).values(id=1, kind="job"))
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


NAMES = st.from_regex(r"[a-zA-Z0-9_.-]{1,20}", fullmatch=True)
TASKS = st.lists(
    st.fixed_dictionaries(
        {
            "image": st.sampled_from(["busybox", "registry.example/ns/img:1"]),
            "runtime": st.sampled_from(["singularity", "udocker"]),
        },
        optional={
            "cmd": st.text(alphabet="abc xyz-", max_size=30),
            "env": st.dictionaries(NAMES, st.text(alphabet="abc xyz-=:/", max_size=10), max_size=3),
        },
    ),
    min_size=1,
    max_size=4,
)
RESOURCES = st.fixed_dictionaries(
    {"cpus": st.integers(1, 4), "memory": st.integers(1, 8), "disk": st.integers(1, 100)},
    optional={"walltime": st.integers(1, 600), "nodes": st.just(1)},
)
JOBS = st.fixed_dictionaries(
    {"resources": RESOURCES, "tasks": TASKS},
    optional={
        "name": NAMES,
        "labels": st.dictionaries(st.from_regex(r"[a-zA-Z0-9]{1,8}", fullmatch=True), NAMES, max_size=3),
        "outputFiles": st.lists(NAMES, max_size=3),
        "policies": st.fixed_dictionaries({}, optional={"priority": st.integers(0, 10), "maximumRetries": st.integers(1, 6)}),
    },
)


@given(body=JOBS)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_generated_valid_jobs_are_accepted_and_described(body, fuzzed):
    """Bodies past validation (the schema-driven cases above rarely are): each is created and
    described as it was sent."""
    client = TestClient(fuzzed, base_url="http://test")
    response = client.post("/jobs", json=body, headers={"Authorization": "Bearer overridden-by-the-test"})
    assert response.status_code == 201, response.text
    described = client.get(f"/jobs/{response.json()['id']}").json()[0]
    assert described["name"] == body.get("name", "") and len(described["tasks"]) == len(body["tasks"])


@given(jobs=st.lists(JOBS, min_size=1, max_size=4))
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_generated_valid_workflows_are_accepted(jobs, fuzzed):
    names = [f"job{i}" for i in range(len(jobs))]
    body = {
        "name": "generated",
        "jobs": [{**job, "name": name} for job, name in zip(jobs, names, strict=True)],
        "dependencies": {names[i]: [names[i + 1]] for i in range(len(names) - 1)},
    }
    client = TestClient(fuzzed, base_url="http://test")
    response = client.post("/workflows", json=body, headers={"Authorization": "Bearer overridden-by-the-test"})
    assert response.status_code == 201, response.text
