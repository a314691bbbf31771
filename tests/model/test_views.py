"""The job representation (spec §4) built from a stored row."""

from types import SimpleNamespace

from prominence.model.views import job_view
from prominence.model.workflow_views import workflow_view

SPEC = {
    "name": "n",
    "resources": {"nodes": 1, "cpus": 1, "memory": 1, "disk": 10},
    "tasks": [{"image": "busybox", "runtime": "singularity", "cmd": "true"}],
    "outputFiles": ["out.txt"],
    "storage": {"type": "onedata", "mountpoint": "/data", "onedata": {"provider": "p", "token": "secret"}},
}


def row(**fields):
    base = dict(id=7, name="n", spec=SPEC, status_reason=None, create_time=100, end_time=None, execution=None)
    base.update(fields)
    return SimpleNamespace(**base)


def test_summary_has_what_the_cli_lists():
    view = job_view(row(), "idle", None, detail=False)
    assert view == {"id": 7, "name": "n", "status": "idle", "tasks": SPEC["tasks"], "events": {"createTime": 100}}


def test_detail_adds_the_description_and_execution_without_secrets():
    view = job_view(row(end_time=130, status_reason="x", execution={"site": "s"}), "failed", 110, detail=True)
    assert view["events"] == {"createTime": 100, "startTime": 110, "endTime": 130}
    assert view["statusReason"] == "x"
    assert view["resources"] == SPEC["resources"] and view["execution"] == {"site": "s"}
    assert view["outputFiles"] == [{"name": "out.txt", "url": ""}]
    assert view["storage"]["onedata"] == {"provider": "p", "token": "***"}
    assert SPEC["storage"]["onedata"]["token"] == "secret"


def test_credentials_in_a_description_are_never_shown():
    task = {"image": "r/i", "runtime": "singularity", "imagePullCredential": {"username": "u", "token": "pull-secret"}}
    spec = {**SPEC, "tasks": [task], "notifications": [{"event": "jobFinished", "type": "email", "password": "mail-secret"}]}
    for detail in (False, True):
        view = job_view(row(spec=spec), "idle", None, detail=detail)
        assert view["tasks"][0]["imagePullCredential"] == {"username": "u", "token": "***"}
        assert "secret" not in repr(view)
    assert task["imagePullCredential"]["token"] == "pull-secret"  # the stored description keeps it, for clones


def test_a_workflows_jobs_show_no_credentials():
    job = {
        "name": "a",
        "tasks": [{"image": "r/i", "imagePullCredential": {"username": "u", "token": "pull-secret"}}],
        "storage": SPEC["storage"],
    }
    workflow = SimpleNamespace(
        id=2, name="w", spec={"jobs": [job]}, status_reason=None, create_time=1, start_time=None, end_time=None
    )
    view = workflow_view(workflow, "idle", {"total": 1, "done": 0, "failed": 0, "queued": 1, "waiting": 0}, detail=True)
    assert view["jobs"][0]["tasks"][0]["imagePullCredential"]["token"] == "***"
    assert view["jobs"][0]["storage"]["onedata"]["token"] == "***"
    assert "secret" not in repr(view)
