"""The S3 server stopped (SIGSTOP) during stage-in and stage-out, and started again within the
retry time: the transfers wait for it, and the job completes with its outputs whole."""

from __future__ import annotations

import signal
import time

import httpx

from tests.integration.faults.helpers import kill, marked, report, runs_of
from tests.integration.test_workflows import upload

STOPPED_SECONDS = 12


def test_stage_in_outlives_a_stopped_object_store(stack, alice, sample_image):
    upload(alice, "fault-input.txt", b"input for the fault test\n")
    body, marker = marked(sample_image, 0, artifacts=[{"url": "fault-input.txt"}], outputFiles=["copy.txt"])
    body["tasks"][0]["cmd"] = f"sh -c 'echo {marker}; cp fault-input.txt copy.txt'"
    job_id = alice.submit(body)
    # Stopped before the run's stage-in starts, which takes a second or two.
    check_whole(alice, stop_object_store(stack, alice, job_id, "stage-in"), job_id, marker, b"input for the fault test\n")


def test_stage_out_outlives_a_stopped_object_store(stack, alice, sample_image):
    body, marker = marked(sample_image, 0, outputFiles=["out.txt"])
    body["tasks"][0]["cmd"] = f"sh -c 'echo {marker}; sleep 4; echo whole > out.txt'"
    job_id = alice.submit(body)
    deadline = time.monotonic() + 60
    while marker not in alice.stdout(job_id) and time.monotonic() < deadline:
        time.sleep(0.2)
    # Stopped while the task sleeps: its stage-out starts against a stopped server.
    check_whole(alice, stop_object_store(stack, alice, job_id, "stage-out"), job_id, marker, b"whole\n")


def stop_object_store(stack, alice, job_id: int, during: str) -> dict:
    """Stop the S3 server for STOPPED_SECONDS, start it again, and wait for the job to end."""
    pid = kill(stack, "s3", signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        time.sleep(STOPPED_SECONDS)
    finally:
        kill(stack, "s3", signal.SIGCONT)
    done = alice.wait(job_id, timeout=180)
    report(f"s3 stopped during {during}", stopped_s=float(STOPPED_SECONDS), ended_after_s=time.monotonic() - stopped_at)
    assert pid == int(stack.home.joinpath("run", "s3.pid").read_text()), "the S3 server was restarted, not resumed"
    return done


def check_whole(alice, done: dict, job_id: int, marker: str, content: bytes) -> None:
    assert done["status"] == "completed", done
    assert runs_of(alice, job_id, marker) == 1
    (output,) = done["outputFiles"]
    assert httpx.get(output["url"]).content == content
