"""A job's sandbox and the slice of an Airflow task context the job DAG's operators read."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from prominence.contract.sandbox import Sandbox
from prominence.contract.tasks import CONF_KEY


class FakeTI:
    """A task instance at try `try_number` of `max_tries + 1`, recording what it pushes."""

    def __init__(self, try_number: int = 1, max_tries: int = 0) -> None:
        self.try_number = try_number
        self.max_tries = max_tries
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


class JobSandbox(Sandbox):
    """A sandbox created as the api-server does at submission, plus the context of a task of its run."""

    def context(self, ti: FakeTI | None = None) -> dict[str, Any]:
        ti = ti or FakeTI()
        # The first attempt of the job: its task retries are all the instance's (scheduler/retry.py).
        conf = {"sandbox": str(self.root), "job_id": 7, "uuid": "0f1e2d3c", "cpus": 1, "task_retries": ti.max_tries}
        return {"dag_run": SimpleNamespace(conf={CONF_KEY: conf}), "ti": ti}


@pytest.fixture
def make_ti():
    return FakeTI


@pytest.fixture
def make_sandbox(tmp_path: Path):
    def make(job: dict[str, Any], staging: dict[str, Any] | None = None) -> JobSandbox:
        sandbox = JobSandbox(tmp_path / "sandbox")
        sandbox.create(job, token="job-token")
        if staging is not None:
            sandbox.write_json(sandbox.staging_file, staging)
        return sandbox

    return make
