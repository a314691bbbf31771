"""The workflow node trigger against a mocked API: it advances its node with the workflow's token
until the node has succeeded, failed or been stopped, asks again as soon as one of the
workflow's jobs ended rather than at its next poll, and a refusal fails the node."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import httpx
import pytest

from prominence.config import get_settings
from prominence.contract.workflows import events_file, token_file
from prominence.triggers.workflow import WorkflowNodeTrigger

PUBLIC_URL = "http://api/prominence/v1"


@pytest.fixture(autouse=True)
def workflow_token(tmp_path, monkeypatch):
    """Workflow 3's token where the api-server writes it, and the API's public URL."""
    monkeypatch.setenv("PROMINENCE_HOME", str(tmp_path))
    monkeypatch.setenv("PROMINENCE_PUBLIC_URL", PUBLIC_URL)
    monkeypatch.setenv("PROMINENCE_WORKFLOW_POLL_SECONDS", "0")
    get_settings.cache_clear()
    path = token_file(3)
    path.parent.mkdir(parents=True)
    path.write_text("workflow-token\n")
    yield
    get_settings.cache_clear()


def node(try_number: int = 1) -> WorkflowNodeTrigger:
    trigger = WorkflowNodeTrigger(3, "step")
    trigger.task_instance = SimpleNamespace(task_id="step", try_number=try_number)
    return trigger


def test_advances_the_node_with_the_workflow_token_until_it_succeeds(answers, first_event) -> None:
    answers.extend([
        httpx.Response(200, json={"state": "running", "released": 1}),
        httpx.Response(503, text="busy"),
        httpx.Response(200, json={"state": "succeeded"}),
    ])  # fmt: skip
    assert first_event(node(try_number=2)) == "success"
    assert [str(r.url) for r in answers.asked] == [f"{PUBLIC_URL}/workflows/3/advance"] * 3
    assert {r.headers["Authorization"] for r in answers.asked} == {"Bearer workflow-token"}
    assert [json.loads(r.content) for r in answers.asked] == [{"job": "step", "try": 2}] * 3


@pytest.mark.parametrize("state", ["failed", "stopped"])
def test_a_failed_or_stopped_node_fails_the_task(answers, first_event, state: str) -> None:
    answers.append(httpx.Response(200, json={"state": state}))
    assert first_event(node()) == "failed"


def test_a_refusal_fails_the_task_at_once(answers, first_event) -> None:
    answers.append(httpx.Response(400, json={"error": "Artifact missing.txt does not exist"}))
    assert first_event(node()) == "failed"
    assert len(answers.asked) == 1


def test_serializes_to_what_it_was_built_from() -> None:
    path, kwargs = WorkflowNodeTrigger(3, "step").serialize()
    assert path == "prominence.triggers.workflow.WorkflowNodeTrigger"
    assert kwargs == {"workflow_id": 3, "job": "step"}


def test_asks_again_as_soon_as_a_job_of_the_workflow_ended(answers, first_event, monkeypatch) -> None:
    """With an hour between polls, only the workflow's `events` mark can bring the second request."""
    monkeypatch.setenv("PROMINENCE_WORKFLOW_POLL_SECONDS", "3600")
    get_settings.cache_clear()

    def running_then_a_job_ends(request: httpx.Request) -> httpx.Response:
        events_file(3).touch()  # committed after the trigger last looked, as the API answers
        return httpx.Response(200, json={"state": "running", "total": 2, "done": 1, "failed": 0, "active": 1})

    answers.extend([running_then_a_job_ends, httpx.Response(200, json={"state": "succeeded"})])
    assert first_event(node()) == "success"
    assert len(answers.asked) == 2


def test_keeps_to_its_poll_while_jobs_of_the_node_wait_to_be_released(answers, monkeypatch) -> None:
    """Ends free no room under the idle cap, so they do not bring a request before the poll."""
    monkeypatch.setenv("PROMINENCE_WORKFLOW_POLL_SECONDS", "3600")
    get_settings.cache_clear()

    def running_then_a_job_ends(request: httpx.Request) -> httpx.Response:
        events_file(3).touch()
        return httpx.Response(200, json={"state": "running", "total": 100, "done": 1, "failed": 0, "active": 20})

    answers.extend([running_then_a_job_ends, httpx.Response(200, json={"state": "succeeded"})])

    async def within_a_second():
        async for event in node().run():
            return event

    with pytest.raises(TimeoutError):
        asyncio.run(asyncio.wait_for(within_a_second(), 1))
    assert len(answers.asked) == 1
