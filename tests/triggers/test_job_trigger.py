"""The job trigger's polling loop against a mocked API: it outlasts transient failures and ends on a final answer."""

from __future__ import annotations

import httpx

from prominence.triggers.job import ProminenceJobTrigger


def test_waits_through_outages_until_the_job_ends(answers, first_event):
    answers.extend(
        [
            httpx.ConnectError("refused"),
            httpx.Response(503, text="busy"),
            httpx.Response(200, json=[{"id": 7, "status": "running"}]),
            httpx.Response(200, json=[{"id": 7, "status": "completed", "execution": {"tasks": [{"exitCode": 0}]}}]),
        ]
    )
    payload = first_event(ProminenceJobTrigger(7, poll_seconds=0))
    assert payload == {"job_id": 7, "job": {"id": 7, "status": "completed", "execution": {"tasks": [{"exitCode": 0}]}}}
    assert [str(r.url) for r in answers.asked] == ["http://api/p/jobs/7"] * 4


def test_a_refusal_or_a_vanished_job_ends_the_wait_with_an_error(answers, first_event):
    answers.append(httpx.Response(401, json={"error": "Authentication failure"}))
    assert first_event(ProminenceJobTrigger(7, poll_seconds=0)) == {
        "job_id": 7,
        "error": "PROMINENCE API answered 401: Authentication failure",
    }
    answers[:] = [httpx.Response(200, json=[])]
    assert first_event(ProminenceJobTrigger(7, poll_seconds=0)) == {"job_id": 7, "error": "job 7 no longer exists"}


def test_serializes_to_what_it_was_built_from():
    path, kwargs = ProminenceJobTrigger(7, "mine", 5.0).serialize()
    assert path == "prominence.triggers.job.ProminenceJobTrigger"
    assert ProminenceJobTrigger(**kwargs).serialize() == (path, kwargs)
