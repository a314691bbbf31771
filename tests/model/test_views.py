"""The job representation (spec §4) built from a stored row."""

from types import SimpleNamespace

from prominence.model.views import job_view

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
