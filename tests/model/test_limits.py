"""Caps on a request's size: tasks per job, jobs per workflow, and a workflow's job instances,
the last counted from factory sizes so an absurd factory is refused without being listed."""

from __future__ import annotations

import time

import pytest

from prominence.config import get_settings
from prominence.model.errors import SpecError
from prominence.model.job import parse_job
from prominence.model.workflow import parse_workflow


def job(name: str = "a", tasks: int = 1) -> dict:
    return {"name": name, "resources": {"cpus": 1, "memory": 1}, "tasks": [{"image": "busybox"}] * tasks}


def refusal(parse, body) -> str:
    with pytest.raises(SpecError) as exc:
        parse(body)
    return exc.value.message


def test_defaults():
    settings = get_settings()
    assert (settings.max_tasks_per_job, settings.max_workflow_jobs, settings.max_workflow_members) == (100, 1000, 1_000_000)


def test_tasks_per_job(monkeypatch):
    monkeypatch.setattr(get_settings(), "max_tasks_per_job", 3)
    assert len(parse_job(job(tasks=3)).tasks) == 3
    assert refusal(parse_job, job(tasks=4)) == "Job has 4 tasks, more than the limit of 3"
    assert refusal(parse_workflow, {"jobs": [job(tasks=4)]}) == "Job has 4 tasks, more than the limit of 3"


def test_jobs_per_workflow(monkeypatch):
    monkeypatch.setattr(get_settings(), "max_workflow_jobs", 2)
    assert parse_workflow({"jobs": [job("a"), job("b")]}).total == 2
    assert refusal(parse_workflow, {"jobs": [job(n) for n in "abc"]}) == "Workflow has 3 jobs, more than the limit of 2"


def test_members_counted_over_all_jobs(monkeypatch):
    monkeypatch.setattr(get_settings(), "max_workflow_members", 10)
    factories = [{"name": "r", "type": "repeat", "jobs": ["a"], "number": 9}]
    assert parse_workflow({"jobs": [job("a"), job("b")], "factories": factories}).total == 10
    factories[0]["number"] = 10
    message = refusal(parse_workflow, {"jobs": [job("a"), job("b")], "factories": factories})
    assert message == "Workflow has 11 job instances, more than the limit of 10"


def sweep(end: int) -> dict:
    parameters = [{"name": "x", "start": 0, "end": end - 1, "step": 1}]
    return {"jobs": [job()], "factories": [{"name": "f", "type": "parameterSweep", "jobs": ["a"], "parameters": parameters}]}


@pytest.mark.parametrize(
    "body, count",
    [
        (sweep(3_000_000), 3_000_000),
        (sweep(10**12), 10**12),
        ({"jobs": [job()], "factories": [{"name": "r", "type": "repeat", "jobs": ["a"], "num": 10**15}]}, 10**15),
    ],
)
def test_an_absurd_factory_is_refused_at_once(body, count):
    started = time.monotonic()
    assert refusal(parse_workflow, body) == f"Workflow has {count} job instances, more than the limit of 1000000"
    assert time.monotonic() - started < 2
