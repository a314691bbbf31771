"""The api-server's release of a workflow's jobs when they may run: its first jobs at once, then
only jobs whose parents all succeeded (across a rerun's lineage) and that have no job in the
workflow yet, through `advance` in its first try; the marks are taken once each."""

from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace

import pytest

from prominence.config import get_settings
from prominence.contract.workflows import ended_marks
from prominence.engine import workflow_events
from prominence.engine.workflows import NodeState


def job(name: str) -> dict:
    return {"name": name, "resources": {"cpus": 1, "memory": 1}, "tasks": [{"image": "busybox", "cmd": "true"}]}


DIAMOND = {
    "jobs": [job(n) for n in "ABCD"],
    "dependencies": {"A": ["B", "C"], "B": ["D"], "C": ["D"]},
    "factories": [
        {"name": "f", "type": "parameterSweep", "jobs": ["C"], "parameters": [{"name": "x", "start": 1, "end": 3, "step": 1}]}
    ],
}


def group(job: str, status: str, n: int = 1, workflow_id: int = 7, succeeded: bool | None = True):
    return SimpleNamespace(workflow_job=job, status=status, succeeded=succeeded, workflow_id=workflow_id, workflow_try=1, n=n)


@pytest.fixture
def workflow(monkeypatch):
    """Workflow 7 (a rerun of 3) of DIAMOND, C a sweep of 3; `summary` is what its jobs are; the
    nodes asked to advance are recorded in `asked`."""
    state = SimpleNamespace(summary=[], status="running", asked=[], marked=[], finished=[])

    @contextmanager
    def scope(write=False):
        yield None

    def advance(found, name, try_number):
        state.asked.append((name, try_number))
        return NodeState("running", 1, released=[100 + len(state.asked)])

    def get_workflow(session, workflow_id):
        return SimpleNamespace(id=7, lineage=[3], spec=DIAMOND, status=state.status) if workflow_id == 7 else None

    monkeypatch.setattr(workflow_events, "session_scope", scope)
    monkeypatch.setattr(workflow_events.store, "get_workflow", get_workflow)
    monkeypatch.setattr(workflow_events.store, "member_summary", lambda session, lineage: state.summary)
    monkeypatch.setattr(workflow_events, "advance", advance)
    monkeypatch.setattr(workflow_events, "_known", {})
    monkeypatch.setattr(workflow_events, "_checked", {})
    monkeypatch.setattr(workflow_events, "release_wanted", state.marked.append)
    monkeypatch.setattr(
        workflow_events.store,
        "finish_workflow",
        lambda session, workflow_id, **values: state.finished.append((workflow_id, values["status"])),
    )
    return state


def test_a_new_workflow_releases_its_first_jobs(workflow):
    assert workflow_events.release_ready(7) == [101]
    assert workflow.asked == [("A", 1)]


def test_children_of_a_succeeded_parent_are_released_in_the_first_try(workflow):
    workflow.summary = [group("A", "completed")]
    assert workflow_events.release_ready(7) == [101, 102]
    assert workflow.asked == [("B", 1), ("C", 1)]


def test_once_every_job_has_one_in_the_workflow_marks_read_a_summary_once_a_second(workflow, monkeypatch):
    workflow.summary = [group("A", "completed"), group("B", "completed"), group("C", "completed", n=3)]
    assert workflow_events.release_ready(7) == [101]
    workflow.summary = None  # read again, it would fail the test
    assert workflow_events.release_ready(7) == []
    assert workflow.asked == [("D", 1)] and workflow.marked == [7]  # looked at again next round
    monkeypatch.setattr(workflow_events, "COMPLETION_CHECK_SECONDS", 0.0)
    workflow.summary = [group("A", "completed"), group("B", "completed"), group("C", "completed", n=3), group("D", "running")]
    assert workflow_events.release_ready(7) == [] and workflow.finished == []


def test_the_last_job_to_succeed_completes_the_workflow_ahead_of_its_dag(workflow):
    workflow.summary = [group(name, "completed", n=3 if name == "C" else 1) for name in "ABCD"]
    assert workflow_events.release_ready(7) == []
    assert workflow.finished == [(7, "completed")] and workflow.asked == []


def test_a_failed_instance_leaves_the_outcome_to_the_dag(workflow):
    workflow.summary = [group(name, "completed") for name in "ABD"]
    workflow.summary += [group("C", "completed", n=2), group("C", "failed", succeeded=False)]
    assert workflow_events.release_ready(7) == []
    assert workflow.finished == []


def test_a_job_waits_for_all_its_parents_and_every_instance_of_them(workflow):
    workflow.summary = [group("A", "completed"), group("B", "completed"), group("C", "completed", n=2), group("C", "running")]
    assert workflow_events.release_ready(7) == []
    workflow.summary[-1] = group("C", "completed")
    assert workflow_events.release_ready(7) == [101]
    assert workflow.asked == [("D", 1)]


def test_a_failed_parent_or_a_job_released_already_is_left_to_its_node(workflow):
    workflow.summary = [group("A", "failed", succeeded=False)]
    assert workflow_events.release_ready(7) == []
    workflow.summary = [group("A", "completed"), group("B", "idle"), group("C", "running", n=3)]
    assert workflow_events.release_ready(7) == []
    assert workflow.asked == []


def test_a_parent_that_succeeded_in_an_earlier_workflow_of_the_lineage_counts(workflow):
    workflow.summary = [group("A", "completed", workflow_id=3), group("B", "completed", workflow_id=3)]
    workflow_events.release_ready(7)
    assert workflow.asked == [("A", 1), ("B", 1), ("C", 1)]


def test_an_ended_or_unknown_workflow_releases_nothing(workflow):
    workflow.summary = [group("A", "completed")]
    workflow.status = "deleted"
    assert workflow_events.release_ready(7) == []
    assert workflow_events.release_ready(8) == []
    assert workflow.asked == []


def test_each_mark_is_taken_once(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMINENCE_HOME", str(tmp_path))
    get_settings.cache_clear()
    try:
        assert workflow_events.take_marks() == []
        ended_marks().mkdir()
        for name in ("5", "12", "stray"):
            (ended_marks() / name).touch()
        assert sorted(workflow_events.take_marks()) == [5, 12]
        assert workflow_events.take_marks() == []
    finally:
        get_settings.cache_clear()
