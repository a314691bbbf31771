"""Scheduler-side write-back: a job's terminal state is stored once, when its run ends.

These hooks run inside the scheduler's transaction. When our tables share Airflow's database they
write through that same session (a second connection to the same SQLite file deadlocks under
load); when they have their own (SQLite), they write there in a short session. They never raise
into the scheduler; a write-back that failed is redone by the reaper.
"""

from __future__ import annotations

import logging
import time

from airflow.listeners import hookimpl
from sqlalchemy import select
from sqlalchemy.orm import object_session

from prominence.config import get_settings
from prominence.engine.runs import CONTAINER_TASK, STAGE_IN_TASK, STAGE_OUT_TASK, job_conf
from prominence.engine.status import outcome_from_reports
from prominence.operators.container import REPORT_KEY
from prominence.store import jobs as store
from prominence.store.db import store_writes

log = logging.getLogger(__name__)


@hookimpl
def on_dag_run_success(dag_run, msg: str) -> None:
    record_outcome(dag_run)
    record_workflow_outcome(dag_run, succeeded=True)


@hookimpl
def on_dag_run_failed(dag_run, msg: str) -> None:
    record_outcome(dag_run)
    record_workflow_outcome(dag_run, succeeded=False)


def record_workflow_outcome(dag_run, *, succeeded: bool) -> None:
    """A workflow's run ended: its nodes are all done, so the workflow is completed or failed."""
    from prominence.engine import workflows
    from prominence.engine.workflow_dag import workflow_id_of

    workflow_id = workflow_id_of(dag_run.dag_id)
    session = object_session(dag_run)
    if workflow_id is not None and session is not None:
        with store_writes(session) as writes:
            workflows.finish(writes, workflow_id, succeeded)


def record_outcome(dag_run) -> None:
    conf = job_conf(dag_run.conf)
    if dag_run.dag_id != get_settings().job_dag_id or "job_id" not in conf:
        return
    session = object_session(dag_run)
    if session is None:
        log.error("Run %s has no session; its job keeps its state", dag_run.run_id)
        return
    outcome = outcome_of(session, dag_run)
    with store_writes(session) as writes:
        store.finish_job(writes, conf["job_id"], **outcome)


def outcome_of(session, dag_run) -> dict:
    """The terminal state of the job of an ended run, from its tasks' reports (finish_job's arguments)."""
    from airflow.models.xcom import XComModel

    settings = get_settings()
    rows = session.execute(
        select(XComModel.task_id, XComModel.value).where(
            XComModel.dag_id == dag_run.dag_id,
            XComModel.run_id == dag_run.run_id,
            XComModel.task_id.in_((CONTAINER_TASK, STAGE_IN_TASK, STAGE_OUT_TASK)),
            XComModel.key == REPORT_KEY,
        )
    )
    reports, staging = [], {}
    for row in rows:
        if row.task_id == CONTAINER_TASK:
            reports.append(XComModel.deserialize_value(row))
        else:
            staging[row.task_id] = XComModel.deserialize_value(row)
    conf = job_conf(dag_run.conf)
    outcome = outcome_from_reports(
        reports,
        conf.get("provisioned", {}),
        settings.site,
        stagein=staging.get(STAGE_IN_TASK),
        stageout=staging.get(STAGE_OUT_TASK),
    )
    start = outcome.start_time or (int(dag_run.start_date.timestamp()) if dag_run.start_date else None)
    return {
        "status": outcome.status,
        "reason": outcome.reason,
        "end_time": int(time.time()),
        "start_time": start,
        "execution": outcome.execution,
        "succeeded": outcome.succeeded,
    }
