"""Two users, every route: bob, with his own token (and his own job's), calls each route of the
app's route table on alice's objects, and neither reads, writes, deletes, lists nor sees the
logs of anything of hers. A route missing from CASES fails the test: whoever adds a route says
here how bob would try it on alice's data."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from prominence.config import get_settings
from prominence.contract.sandbox import Sandbox
from prominence.storage.s3 import get_store
from prominence.store import kv
from prominence.store.tables import jobs, workflows

SECRET = "alice-secret"
TASKS = [{"image": "busybox", "cmd": "true", "runtime": "singularity"}]
JOB = {"resources": {"cpus": 1, "memory": 1, "disk": 1, "nodes": 1}, "tasks": TASKS}
NOT_YOURS = {"error": "Not authorized to access this job"}
NOT_YOUR_WORKFLOW = {"error": "Not authorized to access this workflow"}
# (method, route) -> (url bob calls, request arguments, status and answer bob must get). An
# answer of None: bob's own (empty) data, checked to hold nothing of alice's.
CASES = {
    ("POST", "/jobs"): ("/jobs", {"json": {**JOB, "name": "x", "artifacts": [{"url": "alice/secret.txt"}]}}, 400, None),
    ("GET", "/jobs"): ("/jobs", {"params": {"all": "", "id": "1"}}, 200, []),
    ("GET", "/jobs/{job_id}"): ("/jobs/1", {}, 200, []),
    ("PUT", "/jobs/{job_id}/clone"): ("/jobs/1/clone", {}, 403, NOT_YOURS),
    ("DELETE", "/jobs/{job_id}"): ("/jobs/1", {}, 400, {"error": "No such job(s)"}),
    ("DELETE", "/jobs"): ("/jobs", {"params": {"id": "1,3"}}, 400, {"error": "No such job(s)"}),
    ("PUT", "/jobs/{job_id}/remove"): ("/jobs/1/remove", {}, 403, NOT_YOURS),
    ("GET", "/jobs/{job_id}/stdout"): ("/jobs/1/stdout", {}, 403, NOT_YOURS),
    ("GET", "/jobs/{job_id}/stderr"): ("/jobs/3/stderr", {}, 403, NOT_YOURS),
    ("POST", "/jobs/{job_id}/exec"): ("/jobs/1/exec", {"params": {"command": "ls"}}, 403, NOT_YOURS),
    ("GET", "/jobs/{job_id}/snapshot"): ("/jobs/1/snapshot", {}, 403, NOT_YOURS),
    ("PUT", "/jobs/{job_id}/snapshot"): ("/jobs/1/snapshot", {"params": {"path": "."}}, 403, NOT_YOURS),
    ("GET", "/accounting"): (
        "/accounting",
        {"params": {"start": "1970-01-01", "end": "2100-01-01", "show_all_users": "true"}},
        200,
        {"usage": {"users": {}, "groups": {}}},
    ),
    ("GET", "/resources"): ("/resources", {}, 200, None),
    ("POST", "/workflows"): (
        "/workflows",
        {"json": {"jobs": [{**JOB, "name": "a", "artifacts": [{"url": "alice/secret.txt"}]}]}},
        400,
        None,
    ),
    ("GET", "/workflows"): ("/workflows", {"params": {"all": "", "id": "2"}}, 200, []),
    ("GET", "/workflows/{workflow_id}"): ("/workflows/2", {}, 200, []),
    ("DELETE", "/workflows/{workflow_id}"): ("/workflows/2", {}, 400, {"error": "No such workflow(s)"}),
    ("DELETE", "/workflows"): ("/workflows", {"params": {"id": "2"}}, 400, {"error": "No such workflow(s)"}),
    ("PUT", "/workflows/{workflow_id}/remove"): ("/workflows/2/remove", {}, 403, NOT_YOUR_WORKFLOW),
    ("PUT", "/workflows/{workflow_id}/clone"): ("/workflows/2/clone", {}, 403, NOT_YOUR_WORKFLOW),
    ("PUT", "/workflows/{workflow_id}"): ("/workflows/2", {}, 400, None),
    ("POST", "/workflows/{workflow_id}/advance"): ("/workflows/2/advance", {"json": {"job": "a"}}, 403, NOT_YOUR_WORKFLOW),
    ("GET", "/workflows/{workflow_id}/{job}/stdout"): ("/workflows/2/a/stdout", {}, 403, NOT_YOUR_WORKFLOW),
    ("GET", "/workflows/{workflow_id}/{job}/stderr"): (
        "/workflows/2/0/stderr",
        {"params": {"node": "a"}},
        403,
        NOT_YOUR_WORKFLOW,
    ),
    ("GET", "/workflows/{workflow_id}/{job}/{instance}/stdout"): ("/workflows/2/a/0/stdout", {}, 403, NOT_YOUR_WORKFLOW),
    ("GET", "/workflows/{workflow_id}/{job}/{instance}/stderr"): ("/workflows/2/a/0/stderr", {}, 403, NOT_YOUR_WORKFLOW),
    ("GET", "/kv"): ("/kv", {"params": {"list": "", "values": ""}}, 200, []),
    ("GET", "/kv/{key:path}"): ("/kv/secret", {}, 404, {"error": "No such key"}),
    ("POST", "/kv/{key:path}"): ("/kv/secret", {"content": b"bob's"}, 201, {}),
    ("DELETE", "/kv/{key:path}"): ("/kv/secret", {"params": {"prefix": ""}}, 200, {}),
    ("GET", "/data"): ("/data", {}, 200, []),
    ("GET", "/data/{path:path}"): ("/data/alice", {}, 403, {"error": "Not authorized to access this path"}),
    ("POST", "/data"): (
        "/data",
        {"json": {"filename": "alice/secret.txt"}},
        403,
        {"error": "Not authorized to access upload with this path"},
    ),
    ("POST", "/data/upload"): (
        "/data/upload",
        {"params": {"name": "alice/secret.txt"}},
        403,
        {"error": "Not authorized to access upload with this path"},
    ),
    ("POST", "/data/output"): (
        "/data/output",
        {"json": {"name": "../alice-job/out.txt"}},
        400,
        {"error": "A JWT token is required"},
    ),
    ("DELETE", "/data/{obj:path}"): ("/data/alice/secret.txt", {}, 403, {"error": "Not authorized to access this object"}),
    # The PROMINENCE page of the Airflow UI: static but for the caller's name; its data comes from the routes above.
    ("GET", "/ui/"): ("/ui/", {}, 200, None),
}
PUBLIC = {"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def stored(engine, table, **values) -> None:
    row = {"owner": "alice", "status": "completed", "create_time": 1, "end_time": 2, "in_queue": True, "leave_in_queue": True}
    with engine.begin() as connection:
        connection.execute(insert(table).values(**(row | values)))


@pytest.fixture
def alices(engine, app, s3, monkeypatch, tmp_path):
    """Alice's job 1, workflow 2 with member job 3 (`a`, instance 0), their logs, a key and an
    object, all holding SECRET."""
    monkeypatch.setattr(get_settings(), "home", tmp_path)
    s3()
    get_store().client.put_object(Bucket=get_settings().s3_bucket, Key="uploads/alice/secret.txt", Body=SECRET.encode())
    stored(engine, jobs, id=1, uuid="alice-job", name=SECRET, spec={**JOB, "name": SECRET})
    workflow = {"name": SECRET, "jobs": [{**JOB, "name": "a"}]}
    stored(engine, workflows, id=2, uuid="alice-workflow", name=SECRET, spec=workflow, lineage=[])
    stored(
        engine, jobs, id=3, uuid="alice-member", name=f"{SECRET}/a", spec=JOB, workflow_id=2, workflow_job="a", workflow_index=0
    )
    for uuid in ("alice-job", "alice-member"):
        for stream in ("stdout", "stderr"):
            Sandbox.of(uuid).log(stream).parent.mkdir(parents=True, exist_ok=True)
            Sandbox.of(uuid).log(stream).write_text(SECRET)
    with Session(engine) as session, session.begin():
        kv.put(session, "alice", "secret", SECRET.encode())
    return engine


def test_every_route_is_in_the_matrix(app):
    routes = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, APIRoute) and route.path not in PUBLIC
        for method in route.methods
    }
    assert routes == set(CASES), "add each new route to CASES: how would bob try it on alice's data?"


@pytest.mark.parametrize("bearer", ["user", "job"])
def test_bob_reaches_nothing_of_alices(client, as_user, alices, bearer):
    as_user("bob", job="bob-job" if bearer == "job" else None)
    for (method, route), (url, arguments, status, answer) in CASES.items():
        response = client.request(method, url, **arguments)
        if bearer == "job" and route == "/data/output":  # bob's job writes its own outputs only
            status, answer = 201, None
            assert "/scratch/bob-job/out.txt?" in response.json()["url"]
        assert response.status_code == status, (method, route, response.text)
        if answer is not None:
            assert response.json() == answer, (method, route)
        assert SECRET not in response.text, (method, route)
    with Session(alices) as connection:
        rows = connection.execute(select(jobs.c.id, jobs.c.owner, jobs.c.status, jobs.c.in_queue).order_by(jobs.c.id)).all()
        assert [tuple(row) for row in rows] == [(1, "alice", "completed", True), (3, "alice", "completed", True)]
        assert connection.execute(select(workflows.c.status, workflows.c.in_queue)).one() == ("completed", True)
        assert kv.get(connection, "alice", "secret") == SECRET.encode()
    assert get_store().head("uploads/alice/secret.txt") is not None
    assert Sandbox.of("alice-job").log("stdout").read_text() == SECRET
