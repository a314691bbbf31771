"""outcome_of: a finished run's XCom report rows (as the metadata database returns them) become
the arguments of the job's write-back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from prominence.contract.tasks import CONF_KEY, CONTAINER_TASK, REPORT_KEY, STAGE_IN_TASK, STAGE_OUT_TASK
from prominence.scheduler.outcome import outcome_of

PROVISIONED = {"cpus": 2, "memory": 4, "disk": 10, "nodes": 1}
STARTED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class FakeSession:
    """Answers any query with `rows` (task_id, JSON value), remembering the statement it was asked."""

    def __init__(self, *rows: tuple[str, dict], failed: tuple[str, ...] = (), failed_tasks: tuple[int, ...] = ()) -> None:
        self.rows = [SimpleNamespace(task_id=task_id, value=json.dumps(value)) for task_id, value in rows]
        self.failed = failed
        self.failed_tasks = failed_tasks
        self.statements: list = []

    def execute(self, statement):
        self.statements.append(statement)
        return iter(self.rows)

    def scalars(self, statement):
        """The failed container task instances' map indexes, or the failed staging task ids."""
        if CONTAINER_TASK in statement.compile().params.values():
            return iter(self.failed_tasks)
        return iter(self.failed)


def dag_run(**conf) -> SimpleNamespace:
    return SimpleNamespace(
        dag_id="prominence_job",
        run_id="job-7",
        conf={CONF_KEY: {"provisioned": PROVISIONED, **conf}},
        start_date=STARTED,
    )


def task(index: int, **fields) -> tuple[str, dict]:
    report = {"index": index, "exitCode": 0, "succeeded": True, "final": True, "startTime": 1000 + index}
    return CONTAINER_TASK, report | {"runtime": "udocker", "runtimeVersion": "1.3.17", "cpu": {"vendor": "v"}} | fields


def test_the_runs_own_report_rows_are_asked_for() -> None:
    session = FakeSession(task(0))
    outcome_of(session, dag_run())
    values = list(session.statements[0].compile().params.values())
    assert {"prominence_job", "job-7", REPORT_KEY} <= {v for v in values if isinstance(v, str)}
    assert [sorted(v) for v in values if isinstance(v, list)] == [sorted([CONTAINER_TASK, STAGE_IN_TASK, STAGE_OUT_TASK])]


def test_mapped_task_reports_in_any_order_give_the_jobs_execution() -> None:
    result = outcome_of(FakeSession(task(1, exitCode=2, succeeded=False), task(0)), dag_run())
    assert (result["status"], result["reason"], result["succeeded"]) == ("completed", None, False)
    assert [t["exitCode"] for t in result["execution"]["tasks"]] == [0, 2]
    assert result["execution"]["provisionedResources"] == PROVISIONED
    assert result["execution"]["runtimeVersion"] == {"udocker": "1.3.17"}
    assert result["execution"]["cpu"] == {"vendor": "v"}
    assert result["start_time"] == 1000
    assert type(result["status"]) is str  # a plain string, as database drivers bind it


def test_staging_rows_decide_the_reason() -> None:
    stageout = {"files": [{"name": "o", "status": "failedNoSuchFile", "time": 0.5}], "directories": []}
    stagein = {"stagein": [{"name": "a", "status": "success", "time": 0.25}], "succeeded": True}
    result = outcome_of(FakeSession((STAGE_IN_TASK, stagein), task(0), (STAGE_OUT_TASK, stageout)), dag_run())
    assert (result["status"], result["reason"]) == ("failed", "Stageout failed due to no such file or directory")
    assert (result["execution"]["stageInTime"], result["execution"]["stageOutTime"]) == (0.25, 0.5)


@pytest.mark.parametrize("start_date, expected", [(STARTED, int(STARTED.timestamp())), (None, None)])
def test_a_run_without_task_reports_starts_when_the_run_did(start_date, expected) -> None:
    run = dag_run()
    run.start_date = start_date
    failed_in = {"stagein": [{"name": "a", "status": "failedDownload", "time": 1}], "succeeded": False}
    result = outcome_of(FakeSession((STAGE_IN_TASK, failed_in)), run)
    assert (result["status"], result["reason"], result["succeeded"]) == ("failed", "Artifact download failed", False)
    assert result["start_time"] == expected
    assert result["execution"]["tasks"] == []


def test_a_run_with_no_rows_at_all_could_not_execute_tasks() -> None:
    run = SimpleNamespace(dag_id="prominence_job", run_id="job-8", conf=None, start_date=None)
    result = outcome_of(FakeSession(), run)
    assert (result["status"], result["reason"]) == ("failed", "Unable to execute task(s)")
    assert result["execution"]["provisionedResources"] == {}


@pytest.mark.parametrize(
    "stage, reason",
    [(STAGE_OUT_TASK, "Unable to stageout output to object storage"), (STAGE_IN_TASK, "Artifact download failed")],
)
def test_a_staging_task_that_failed_without_a_report_fails_the_job(stage, reason) -> None:
    rows = [task(0)] if stage == STAGE_OUT_TASK else []
    result = outcome_of(FakeSession(*rows, failed=(stage,)), dag_run())
    assert (result["status"], result["reason"], result["succeeded"]) == ("failed", reason, False)


def test_a_staging_task_that_failed_with_its_report_keeps_the_reports_reason() -> None:
    stageout = {"files": [{"name": "o", "status": "failedNoSuchFile", "time": 0}], "directories": []}
    result = outcome_of(FakeSession(task(0), (STAGE_OUT_TASK, stageout), failed=(STAGE_OUT_TASK,)), dag_run())
    assert result["reason"] == "Stageout failed due to no such file or directory"


def test_a_failed_container_task_without_its_final_report_lost_its_worker() -> None:
    explained = outcome_of(FakeSession(task(0, exitCode=1, succeeded=False), failed_tasks=(0,)), dag_run())
    assert (explained["status"], explained["failure"]) == ("completed", "task")
    lost = outcome_of(FakeSession(task(0), failed_tasks=(1,)), dag_run())
    assert (lost["status"], lost["reason"], lost["failure"]) == ("failed", "Unable to execute task(s)", "infrastructure")
