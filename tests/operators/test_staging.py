"""Stage-in and stage-out against S3 (moto, in process): what lands in the job's home, what is
uploaded under which key, and how each failure is reported (spec §13.3, §13.7, §13.9)."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from types import SimpleNamespace

import boto3
import moto
import pytest
from airflow.sdk import AssetAlias
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from airflow.sdk.execution_time.context import OutletEventAccessors

from prominence.config import get_settings
from prominence.contract.assets import OUTPUTS_ALIAS
from prominence.contract.keys import output_key
from prominence.contract.tasks import REPORT_KEY
from prominence.operators import staging
from prominence.operators.staging import StageInOperator, StageOutOperator
from prominence.storage.s3 import get_store
from prominence.storage.unpack import make_tarball

JOB = {"tasks": [{"image": "noop:1", "runtime": "noop"}], "resources": {"disk": 1}}
UUID = "0f1e2d3c"  # the conftest's job uuid


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """An empty bucket `prominence` that our object store hook talks to."""
    for name, value in {"ACCESS_KEY": "test", "SECRET_KEY": "test", "BUCKET": "prominence"}.items():
        monkeypatch.setenv(f"PROMINENCE_S3_{name}", value)
    monkeypatch.delenv("PROMINENCE_S3_ENDPOINT_URL", raising=False)
    get_settings.cache_clear()
    get_store.cache_clear()
    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
        client.create_bucket(Bucket="prominence")
        yield client
    get_store.cache_clear()
    get_settings.cache_clear()


def stage_in(sandbox):
    context = sandbox.context()
    StageInOperator(task_id="stage_in").execute(context)
    return context["ti"].pushed[REPORT_KEY]


def stage_out(sandbox):
    context = sandbox.context()
    try:
        StageOutOperator(task_id="stage_out").execute(context)
    finally:
        pushed = context["ti"].pushed.get(REPORT_KEY)
    return pushed


def test_stage_in_fetches_uploaded_objects_and_unpacks_archives(s3, make_sandbox, tmp_path) -> None:
    (tmp_path / "made" / "inputs").mkdir(parents=True)
    (tmp_path / "made" / "inputs" / "a.txt").write_text("A")
    make_tarball(tmp_path / "made", "inputs", tmp_path / "in.tgz")
    s3.put_object(Bucket="prominence", Key="uploads/alice/run.sh", Body=b"#!/bin/sh\n")
    s3.put_object(Bucket="prominence", Key="uploads/alice/in.tgz", Body=(tmp_path / "in.tgz").read_bytes())
    artifacts = [
        {"name": "run.sh", "key": "uploads/alice/run.sh", "executable": True},
        {"name": "in.tgz", "key": "uploads/alice/in.tgz", "mountpoint": "inputs:/data"},
    ]
    sandbox = make_sandbox(JOB, {"artifacts": artifacts})
    report = stage_in(sandbox)
    assert report["succeeded"] is True
    assert [(e["name"], e["status"]) for e in report["stagein"]] == [("run.sh", "success"), ("in.tgz", "success")]
    assert (sandbox.home / "run.sh").read_bytes() == b"#!/bin/sh\n"
    assert (sandbox.home / "run.sh").stat().st_mode & 0o777 == 0o775
    assert (sandbox.home / "inputs" / "a.txt").read_text() == "A"
    assert sandbox.read_json(sandbox.stage_report_file("stagein")) == report


def test_stage_in_stops_at_a_missing_object(s3, make_sandbox) -> None:
    s3.put_object(Bucket="prominence", Key="uploads/alice/later", Body=b"x")
    artifacts = [{"name": "gone", "key": "uploads/alice/gone"}, {"name": "later", "key": "uploads/alice/later"}]
    sandbox = make_sandbox(JOB, {"artifacts": artifacts})
    with pytest.raises(AirflowFailException, match="Stage-in failed"):
        stage_in(sandbox)
    report = sandbox.read_json(sandbox.stage_report_file("stagein"))
    assert report["succeeded"] is False
    assert [(e["name"], e["status"]) for e in report["stagein"]] == [("gone", "failedDownload")]
    assert not (sandbox.home / "gone").exists() and not (sandbox.home / "later").exists()


def test_stage_in_refuses_an_object_larger_than_the_disk(s3, make_sandbox, monkeypatch) -> None:
    monkeypatch.setattr(staging, "GB", 10)  # a disk of 1 "GB" holds 10 bytes
    s3.put_object(Bucket="prominence", Key="uploads/alice/big", Body=b"x" * 11)
    sandbox = make_sandbox(JOB, {"artifacts": [{"name": "big", "key": "uploads/alice/big"}]})
    with pytest.raises(AirflowFailException):
        stage_in(sandbox)
    assert sandbox.read_json(sandbox.stage_report_file("stagein"))["stagein"][0]["status"] == "failedDownload"


def test_stage_in_reports_a_broken_archive(s3, make_sandbox) -> None:
    s3.put_object(Bucket="prominence", Key="uploads/alice/in.tar.gz", Body=b"not gzip")
    sandbox = make_sandbox(JOB, {"artifacts": [{"name": "in.tar.gz", "key": "uploads/alice/in.tar.gz"}]})
    with pytest.raises(AirflowFailException):
        stage_in(sandbox)
    assert sandbox.read_json(sandbox.stage_report_file("stagein"))["stagein"][0]["status"] == "failedUncompress"


def test_stage_out_uploads_files_and_directories(s3, make_sandbox) -> None:
    plan = {"outputFiles": [{"name": "*.out"}], "outputDirs": [{"name": "results"}]}
    sandbox = make_sandbox(JOB, plan)
    (sandbox.home / "a.out").write_text("first")
    (sandbox.home / "results").mkdir()
    (sandbox.home / "results" / "r.txt").write_text("R")
    report = stage_out(sandbox)
    assert report["succeeded"] is True
    assert [(e["name"], e["status"]) for e in report["files"]] == [("*.out", "success")]
    assert report["files"][0]["size"] == 5
    key = output_key(UUID, "*.out", False)
    assert s3.get_object(Bucket="prominence", Key=key)["Body"].read() == b"first"
    body = s3.get_object(Bucket="prominence", Key=output_key(UUID, "results", True))["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        assert tar.extractfile("results/r.txt").read() == b"R"
    assert sandbox.read_json(sandbox.stage_report_file("stageout")) == report


def test_a_missing_output_is_failed_no_such_file_and_the_rest_is_uploaded(s3, make_sandbox) -> None:
    plan = {"outputFiles": [{"name": "missing.txt"}, {"name": "here.txt"}], "outputDirs": [{"name": "nodir"}]}
    sandbox = make_sandbox(JOB, plan)
    (sandbox.home / "here.txt").write_text("h")
    (sandbox.home / "nodir").write_text("a file, not a directory")
    with pytest.raises(AirflowFailException, match="Stage-out failed"):
        stage_out(sandbox)
    report = sandbox.read_json(sandbox.stage_report_file("stageout"))
    statuses = [(e["name"], e["status"]) for e in report["files"] + report["directories"]]
    assert statuses == [("missing.txt", "failedNoSuchFile"), ("here.txt", "success"), ("nodir", "failedNoSuchFile")]
    assert s3.get_object(Bucket="prominence", Key=output_key(UUID, "here.txt", False))["Body"].read() == b"h"


def test_stage_out_does_not_follow_a_link_out_of_the_home(s3, make_sandbox, tmp_path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("worker's")
    sandbox = make_sandbox(JOB, {"outputFiles": [{"name": "leak"}]})
    (sandbox.home / "leak").symlink_to(secret)
    with pytest.raises(AirflowFailException):
        stage_out(sandbox)
    assert sandbox.read_json(sandbox.stage_report_file("stageout"))["files"][0]["status"] == "failedNoSuchFile"
    assert "Contents" not in s3.list_objects_v2(Bucket="prominence")


def test_an_unreachable_store_is_failed_upload(s3, make_sandbox) -> None:
    sandbox = make_sandbox(JOB, {"outputFiles": [{"name": "o.txt"}]})
    (sandbox.home / "o.txt").write_text("o")
    s3.delete_bucket(Bucket="prominence")
    with pytest.raises(AirflowFailException):
        stage_out(sandbox)
    assert sandbox.read_json(sandbox.stage_report_file("stageout"))["files"][0]["status"] == "failedUpload"


def test_stage_out_is_skipped_after_a_failed_stage_in(s3, make_sandbox) -> None:
    sandbox = make_sandbox(JOB, {"outputFiles": [{"name": "o.txt"}]})
    (sandbox.home / "o.txt").write_text("o")
    sandbox.write_json(sandbox.stage_report_file("stagein"), {"stagein": [], "succeeded": False})
    with pytest.raises(AirflowSkipException):
        stage_out(sandbox)
    assert "Contents" not in s3.list_objects_v2(Bucket="prominence")


@pytest.mark.parametrize("pattern", ["/etc/passwd", "**x"])
def test_an_output_pattern_that_crashes_the_search_is_failed_upload(s3, make_sandbox, pattern) -> None:
    plan = {"outputFiles": [{"name": pattern}, {"name": "here.txt"}]}
    sandbox = make_sandbox(JOB, plan)
    (sandbox.home / "here.txt").write_text("h")
    with pytest.raises(AirflowFailException, match="Stage-out failed"):
        stage_out(sandbox)
    report = sandbox.read_json(sandbox.stage_report_file("stageout"))
    assert [(e["name"], e["status"]) for e in report["files"]] == [(pattern, "failedUpload"), ("here.txt", "success")]


def test_an_artifact_whose_staging_crashes_is_failed_download(s3, make_sandbox, monkeypatch) -> None:
    monkeypatch.setattr(staging, "is_archive", lambda name: 1 / 0)
    s3.put_object(Bucket="prominence", Key="uploads/alice/in.txt", Body=b"in")
    sandbox = make_sandbox(JOB, {"artifacts": [{"name": "in.txt", "key": "uploads/alice/in.txt"}]})
    with pytest.raises(AirflowFailException):
        stage_in(sandbox)
    assert sandbox.read_json(sandbox.stage_report_file("stagein"))["stagein"][0]["status"] == "failedDownload"


def _run_as(sandbox, owner: str, succeeded: bool = True):
    """Stage out a job whose one task reported `succeeded`, in a run of `owner`."""
    sandbox.write_report(0, {"index": 0, "final": True, "succeeded": succeeded})
    context = sandbox.context()
    context["dag_run"] = SimpleNamespace(conf=context["dag_run"].conf, triggering_user_name=owner, run_id="job-7")
    context["outlet_events"] = OutletEventAccessors()
    StageOutOperator(task_id="stage_out").execute(context)
    return context["outlet_events"][AssetAlias(OUTPUTS_ALIAS)].asset_alias_events


def test_a_completed_jobs_outputs_are_asset_events_under_its_owners_name(s3, make_sandbox) -> None:
    sandbox = make_sandbox(
        JOB | {"name": "daily simulation"}, {"outputFiles": [{"name": "result.txt"}], "outputDirs": [{"name": "plots"}]}
    )
    (sandbox.home / "result.txt").write_text("42")
    (sandbox.home / "plots").mkdir()
    events = _run_as(sandbox, "alice")
    uris = [event.dest_asset_key.uri for event in events]
    assert uris == ["prominence://alice/daily%20simulation/result.txt", "prominence://alice/daily%20simulation/plots"]
    assert events[0].extra == {
        "job_id": 7,
        "owner": "alice",
        "output": "result.txt",
        "key": output_key(UUID, "result.txt", False),
        "bucket": "prominence",
        "size": 2,
    }


def test_an_unnamed_job_is_named_by_its_run_and_a_failed_one_emits_nothing(s3, make_sandbox) -> None:
    sandbox = make_sandbox(JOB, {"outputFiles": [{"name": "result.txt"}]})
    (sandbox.home / "result.txt").write_text("42")
    assert [event.dest_asset_key.uri for event in _run_as(sandbox, "bob")] == ["prominence://bob/job-7/result.txt"]
    assert _run_as(sandbox, "bob", succeeded=False) == []
