"""A job retry resets the sandbox to what it was at submission, logs kept (contract/sandbox.py)."""

from __future__ import annotations

import base64

from prominence.contract.sandbox import Sandbox


def test_a_reset_sandbox_is_as_submitted_with_its_logs(tmp_path):
    sandbox = Sandbox(tmp_path / "job")
    inputs = [{"filename": "run.sh", "content": base64.b64encode(b"echo hi").decode(), "executable": True}]
    sandbox.create({"tasks": []}, token="t")
    sandbox.write_inputs(inputs)
    (sandbox.home / "run.sh").write_text("changed by the first attempt")
    (sandbox.home / "out" / "deep").mkdir(parents=True)
    (sandbox.home / "link").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere").mkdir()
    sandbox.write_report(0, {"index": 0, "final": True})
    sandbox.identity_file.write_text("70001")
    sandbox.log("stdout").write_text("first attempt\n")

    sandbox.reset(inputs)

    assert sorted(p.name for p in sandbox.home.iterdir()) == ["run.sh"]
    assert (sandbox.home / "run.sh").read_bytes() == b"echo hi"
    assert (sandbox.home / "run.sh").stat().st_mode & 0o777 == 0o775
    assert sandbox.read_report(0) is None and not sandbox.identity_file.exists()
    assert (tmp_path / "elsewhere").is_dir()
    assert sandbox.log("stdout").read_text() == "first attempt\n"
    assert sandbox.read_job() == {"tasks": []} and sandbox.token_file.read_text() == "t"
