"""Jobs, workflows and data routes as a client sees them: the spec's status codes and
`{"error": ...}` bodies for what is unknown, someone else's, invalid or unavailable."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter
from sqlalchemy import insert

from prominence.config import get_settings
from prominence.contract.sandbox import Sandbox
from prominence.model.views import JobView
from prominence.store.tables import jobs, workflows

TASKS = [{"image": "busybox", "cmd": "true", "runtime": "singularity"}]
JOB = {"resources": {"cpus": 1, "memory": 1, "disk": 1, "nodes": 1}, "tasks": TASKS}


def stored(engine, table, **values) -> None:
    row = {
        "uuid": f"uuid-{values['id']}",
        "owner": "alice",
        "status": "completed",
        "spec": {"tasks": TASKS},
        "create_time": 1,
        "in_queue": True,
    }
    with engine.begin() as connection:
        connection.execute(insert(table).values(**(row | values)))


@pytest.fixture
def alices(engine, as_user):
    """Job 1 and workflow 2 of alice's, both ended; requests come from bob unless a test says otherwise."""
    stored(engine, jobs, id=1, name="j")
    stored(engine, workflows, id=2, name="w", spec={"name": "w", "jobs": [{"name": "a", **JOB}]}, lineage=[])
    stored(engine, jobs, id=3, name="w/a", workflow_id=2, workflow_job="a", uuid="member")
    as_user("bob")


@pytest.mark.parametrize("path", ["/jobs/1/stdout", "/jobs/1/stderr", "/workflows/2/a/stdout", "/workflows/2/a/0/stderr"])
def test_someone_elses_logs_are_403_and_unknown_ids_400(client, alices, path):
    kind = path.split("/")[1][:-1]
    refused = client.get(path)
    assert (refused.status_code, refused.json()) == (403, {"error": f"Not authorized to access this {kind}"})
    unknown = client.get(path.replace("1", "9").replace("2", "9"))
    assert (unknown.status_code, unknown.json()) == (400, {"error": f"{kind.capitalize()} does not exist"})


def test_logs_are_served_from_the_offset_or_400_when_absent(client, alices, as_user, monkeypatch, tmp_path):
    monkeypatch.setattr(get_settings(), "home", tmp_path)
    log = Sandbox.of("member").log("stdout")
    log.parent.mkdir(parents=True)
    log.write_bytes(b"hello\n")
    as_user("alice")
    served = client.get("/workflows/2/a/stdout", params={"offset": 2})
    assert (served.status_code, served.text, served.headers["content-type"]) == (200, "llo\n", "text/plain; charset=utf-8")
    assert client.get("/workflows/2/0/stdout", params={"node": "a"}).text == "hello\n"
    missing = client.get("/workflows/2/a/stderr")
    assert (missing.status_code, missing.json()) == (400, {"error": "stderr does not exist"})
    assert client.get("/jobs/1/stdout").json() == {"error": "stdout does not exist"}


def test_describe_shows_only_ones_own(client, alices, as_user):
    assert client.get("/jobs/1").json() == [] and client.get("/workflows/2").json() == []
    as_user("alice")
    [job] = client.get("/jobs/1").json()
    assert (job["id"], job["status"], job["execution"]) == (1, "completed", {})
    [workflow] = client.get("/workflows/2").json()
    assert (workflow["name"], workflow["status"], workflow["progress"]["total"]) == ("w", "completed", 1)
    assert "statusReason" not in workflow


def test_remove_and_clone_check_the_owner(client, alices, as_user):
    for path, kind in (("/jobs/1/remove", "job"), ("/workflows/2/remove", "workflow"), ("/jobs/1/clone", "job")):
        refused = client.put(path)
        assert (refused.status_code, refused.json()) == (403, {"error": f"Not authorized to access this {kind}"})
    as_user("alice")
    assert client.put("/jobs/1/remove").json() == {}
    again = client.put("/jobs/1/remove")
    assert (again.status_code, again.json()) == (400, {"error": "Job is no longer in the queue"})


@pytest.mark.parametrize("kind", ["job", "workflow"])
def test_bulk_delete_needs_integer_ids(client, alices, kind):
    none = client.delete(f"/{kind}s")
    assert (none.status_code, none.json()) == (400, {"error": f"a {kind} id or list of {kind} ids must be provided"})
    bad = client.delete(f"/{kind}s", params={"id": "1,x"})
    assert (bad.status_code, bad.json()) == (400, {"error": "ids must be integers"})
    nothing = client.delete(f"/{kind}s", params={"id": "1,2"})
    assert (nothing.status_code, nothing.json()) == (400, {"error": f"No such {kind}(s)"})


def test_invalid_descriptions_and_parameters_are_400_not_422(client, as_user):
    as_user("alice")
    invalid = client.post("/jobs", json={"tasks": TASKS})
    assert (invalid.status_code, invalid.json()) == (400, {"error": "a job must contain resources"})
    workflow = client.post("/workflows", json={"jobs": []})
    assert (workflow.status_code, workflow.json()) == (400, {"error": "a workflow must contain jobs"})
    not_json = client.post("/jobs", content=b"{")
    assert (not_json.status_code, not_json.json()) == (400, {"error": "Request body is not valid JSON"})
    not_an_id = client.get("/jobs/abc/stdout")
    assert not_an_id.status_code == 400 and not_an_id.json()["error"].startswith("invalid job_id")


def test_a_body_over_the_cap_is_413_json(client, as_user):
    as_user("alice")
    response = client.post("/jobs", content=b" " * (get_settings().max_body_bytes + 1))
    assert (response.status_code, response.json()) == (413, {"error": "Request body too large"})


@pytest.mark.parametrize(("method", "path"), [("POST", "/jobs/1/exec"), ("GET", "/jobs/1/snapshot"), ("PUT", "/jobs/1/snapshot")])
def test_exec_and_snapshots_switched_off_answer_as_disabled(client, as_user, monkeypatch, method, path):
    monkeypatch.setattr(get_settings(), "enable_exec", False)
    monkeypatch.setattr(get_settings(), "enable_snapshots", False)
    as_user("alice")
    response = client.request(method, path)
    assert (response.status_code, response.json()) == (401, {"error": "Functionality disabled"})


def test_data_names_outside_the_callers_areas(client, as_user, s3):
    s3()
    as_user("alice", groups="team")
    cases = [
        ("POST", "/data/upload", {"filename": "other/x"}, 403, "Not authorized to access upload with this path"),
        ("GET", "/data/other", None, 403, "Not authorized to access this path"),
        ("DELETE", "/data/other/x", None, 403, "Not authorized to access this object"),
        ("POST", "/data/upload", {"filename": "../x"}, 400, "Invalid object name '../x'"),
        ("DELETE", "/data/team//x", None, 400, "Invalid object name 'team//x'"),
    ]
    for method, path, body, status, message in cases:
        response = client.request(method, path, json=body)
        assert (response.status_code, response.json()) == (status, {"error": message}), path
    assert client.get("/data/team").json() == []


def test_storage_failures_are_json_errors(client, as_user, s3):
    as_user("alice")
    response = client.get("/data")
    assert (response.status_code, response.json()) == (400, {"error": "Unable to list objects due to storage system problems"})


def test_a_workflow_naming_a_missing_artifact_is_refused(client, as_user, s3):
    s3()
    as_user("alice")
    body = {"jobs": [{"name": "a", **JOB, "artifacts": [{"url": "absent.txt"}]}]}
    response = client.post("/workflows", json=body)
    assert (response.status_code, response.json()) == (400, {"error": "Artifact absent.txt does not exist"})


@pytest.mark.parametrize("path", ["/jobs", "/workflows"])
def test_a_missing_uploaded_image_is_refused(client, as_user, s3, path):
    s3()
    as_user("alice")
    job = {**JOB, "tasks": [{"image": "absent.sif", "runtime": "singularity"}]}
    response = client.post(path, json={"jobs": [{"name": "a", **job}]} if path == "/workflows" else job)
    assert (response.status_code, response.json()) == (400, {"error": "Image absent.sif does not exist"})


def test_disabled_data_is_401(client, as_user, monkeypatch):
    monkeypatch.setattr(get_settings(), "enable_data", False)
    as_user("alice")
    assert client.get("/data").json() == {"error": "Functionality disabled"}


def test_a_listing_is_in_the_job_schema_with_or_without_detail(client, engine, alices, as_user):
    """The list is sent without FastAPI's validation: what it sends must still be JobView's shape."""
    stored(engine, jobs, id=4, name="k", status_reason="Killed", labels={"a": "b"}, execution={"site": "vm"}, end_time=5)
    as_user("alice")
    schema = TypeAdapter(list[JobView])
    for params in ({"all": "true"}, {"all": "true", "detail": "1"}):
        listed = client.get("/jobs", params=params).json()
        assert sorted(view["id"] for view in listed) == [1, 3, 4]
        assert schema.dump_python(schema.validate_python(listed), exclude_none=True) == listed
    detailed = {view["id"]: view for view in client.get("/jobs", params={"all": "true", "detail": "1"}).json()}
    brief = {view["id"]: view for view in client.get("/jobs", params={"all": "true"}).json()}
    assert detailed[4]["execution"] == {"site": "vm"} and "execution" not in brief[4]
    assert brief[4]["statusReason"] == "Killed" and brief[4]["events"] == {"createTime": 1, "endTime": 5}
