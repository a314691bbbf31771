"""What the container task tells its runtime about a task's image (operators/images.py)."""

from __future__ import annotations

import pytest

from prominence.contract.sandbox import Sandbox
from prominence.operators.images import image_source
from prominence.runtimes import ImagePullError

JOB = {"resources": {"disk": 1}}


def test_a_registry_image_has_nothing_to_fetch_and_carries_its_credential(tmp_path):
    task = {"image": "busybox", "imagePullCredential": {"username": "u", "token": "t"}, "imageSha256": "ab"}
    source = image_source(Sandbox(tmp_path), JOB, task)
    assert (source.fetch, source.username, source.password, source.sha256, source.private) == (None, "u", "t", "ab", True)


def test_an_uploaded_image_takes_its_checksum_from_the_plan_unless_the_task_has_one(tmp_path):
    sandbox = Sandbox(tmp_path)
    sandbox.write_json(sandbox.staging_file, {"images": {"tool.sif": {"key": "uploads/alice/tool.sif", "sha256": "cd"}}})
    assert image_source(sandbox, JOB, {"image": "tool.sif"}).sha256 == "cd"
    assert image_source(sandbox, JOB, {"image": "tool.sif", "imageSha256": "ef"}).sha256 == "ef"
    assert image_source(sandbox, JOB, {"image": "tool.sif"}).fetch is not None


def test_an_uploaded_image_missing_from_the_plan_fails_its_pull(tmp_path):
    source = image_source(Sandbox(tmp_path), JOB, {"image": "tool.sif"})
    with pytest.raises(ImagePullError, match="not resolved at submission"):
        source.fetch(tmp_path / "download")


def test_a_url_on_the_stacks_own_network_is_refused(tmp_path):
    source = image_source(Sandbox(tmp_path), JOB, {"image": "http://127.0.0.1:1/tool.sif"})
    with pytest.raises(ImagePullError, match="not allowed"):
        source.fetch(tmp_path / "download")
    assert not (tmp_path / "download").exists()
