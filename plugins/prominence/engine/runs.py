"""Starting and stopping the Airflow run of a job: the only place that writes Airflow's tables.

A job's run is created with its task plan already in place: the `plan` task is an
EmptyOperator (the scheduler completes it without a task process) whose mapped output
we record at creation, so `task` expands to one instance per job task and a job costs
exactly one task process per container task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, object_session

from prominence.config import get_settings
from prominence.contract.sandbox import Sandbox
from prominence.contract.tasks import (
    CONF_KEY,
    CONTAINER_TASK,
    INFRASTRUCTURE_RETRIES,
    PLAN_TASK,
    REPORT_KEY,
    STAGE_IN_TASK,
    STAGE_OUT_TASK,
    job_conf,
    run_id_for,
)
from prominence.store.signals import run_created_on_commit

log = logging.getLogger(__name__)
# Tries of one run's stop when the scheduler's own locks on its rows meet ours in a deadlock.
STOP_ATTEMPTS = 3


def start_run(
    session: Session, job_id: int, conf: dict[str, Any], task_count: int, created: int, owner: str, name: str = ""
) -> None:
    """Queue the job's run in the caller's transaction, with its plan of `task_count` tasks;
    a run that exists already (the reconciler and the dispatcher both tried) is left as it is.
    The UI shows `owner` as the run's triggering user and the job's `name` as its note.

    The scheduler orders waiting task instances by priority, then by their run's logical date:
    a date unique per job (its submission second plus its id in microseconds) makes that FIFO.
    """
    # Airflow's ORM loads only where used: this module is imported with the plugin in every task process.
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.exceptions import DagRunAlreadyExists
    from airflow.models.taskmap import TaskMap
    from airflow.models.xcom import XComModel
    from airflow.utils.types import DagRunTriggeredByType

    dag_id = get_settings().job_dag_id
    run_id = run_id_for(job_id)
    logical_date = datetime.fromtimestamp(created, UTC) + timedelta(microseconds=job_id % 1_000_000)
    try:
        trigger_dag(
            dag_id,
            run_id=run_id,
            run_after=_run_after(created),
            conf={CONF_KEY: conf},
            logical_date=logical_date,
            replace_microseconds=False,
            triggered_by=DagRunTriggeredByType.REST_API,
            triggering_user_name=owner,
            note=name or None,
            session=session,
        )
    except DagRunAlreadyExists:
        return
    XComModel.set(
        "return_value", list(range(task_count)), dag_id=dag_id, task_id=PLAN_TASK, run_id=run_id, serialize=False, session=session
    )
    session.add(TaskMap(dag_id=dag_id, task_id=PLAN_TASK, run_id=run_id, map_index=-1, length=task_count, keys=None))


def wake_scheduler_on_new_runs() -> None:
    """Have every DAG run this process creates wake a resting scheduler once committed
    (scheduler/idle.py): the jobs' runs admission creates in the reconciler, and the runs that
    Airflow's own API and UI trigger in the api-server."""
    # Airflow's ORM loads only where used: this module is imported with the plugin in every task process.
    from airflow.models.dagrun import DagRun

    if not event.contains(DagRun, "after_insert", _run_inserted):
        event.listen(DagRun, "after_insert", _run_inserted)


def _run_inserted(mapper, connection, run) -> None:
    session = object_session(run)
    if session is not None:
        run_created_on_commit(session)


def _run_after(created: int) -> datetime:
    """A whole second before the job's submission: the scheduler starts a queued run once its
    `run_after` is not after the database's `now()`, which on SQLite (CURRENT_TIMESTAMP) has whole
    seconds, so Airflow's default (the creation time, with microseconds) kept each run waiting for
    the next second to begin, half a second on average."""
    return datetime.fromtimestamp(created - 1, UTC)


def run_states(session: Session, job_ids: list[int]) -> dict[int, str]:
    """The state of the run of each of `job_ids` that has one, in one query."""
    # Airflow's ORM loads only where used: this module is imported with the plugin in every task process.
    from airflow.models.dagrun import DagRun

    runs = {run_id_for(job_id): job_id for job_id in job_ids}
    if not runs:
        return {}
    query = select(DagRun.run_id, DagRun.state).where(DagRun.dag_id == get_settings().job_dag_id, DagRun.run_id.in_(list(runs)))
    return {runs[run_id]: state for run_id, state in session.execute(query)}


def dag_runs_of(session: Session, dag_ids: list[str]) -> dict[str, str]:
    """The state of the run of each of `dag_ids` that has one (workflow DAGs run once), by DAG id."""
    # Airflow's ORM loads only where used: this module is imported with the plugin in every task process.
    from airflow.models.dagrun import DagRun

    if not dag_ids:
        return {}
    return dict(session.execute(select(DagRun.dag_id, DagRun.state).where(DagRun.dag_id.in_(dag_ids))).all())


def active_workflow_dag_ids(session: Session) -> list[str]:
    """The workflow DAGs that have a run queued or running."""
    # Airflow's ORM loads only where used: this module is imported with the plugin in every task process.
    from airflow.models.dagrun import DagRun

    query = select(DagRun.dag_id).where(
        DagRun.dag_id.startswith(get_settings().workflow_dag_prefix, autoescape=True), DagRun.state.in_(("queued", "running"))
    )
    return list(session.scalars(query.distinct()))


def ended_dag_runs(session: Session, dag_ids: list[str]) -> dict[str, str]:
    """Those of `dag_runs_of` that have ended."""
    return {dag_id: state for dag_id, state in dag_runs_of(session, dag_ids).items() if state in ("success", "failed")}


def runs_of(session: Session, job_ids: list[int]) -> list[Any]:
    """The runs of `job_ids` as ORM objects, for the few callers that need more than their state."""
    # Airflow's ORM loads only where used: this module is imported with the plugin in every task process.
    from airflow.models.dagrun import DagRun

    query = select(DagRun).where(
        DagRun.dag_id == get_settings().job_dag_id, DagRun.run_id.in_([run_id_for(job_id) for job_id in job_ids])
    )
    return list(session.scalars(query))


def stop_run(session: Session, job_id: int) -> bool:
    """Fail the run and kill its running task processes; False if there was nothing to stop."""
    # Airflow's ORM loads only where used: this module is imported with the plugin in every task process.
    from airflow.api.common.mark_tasks import set_dag_run_state_to_failed
    from airflow.models.dagbag import DBDagBag
    from airflow.models.dagrun import DagRun
    from airflow.utils.state import DagRunState

    dag_id = get_settings().job_dag_id
    run = DagRun.find(dag_id=dag_id, run_id=run_id_for(job_id), session=session)
    if not run or run[0].state not in (DagRunState.QUEUED, DagRunState.RUNNING):
        return False
    if sandbox := job_conf(run[0].conf).get("sandbox"):
        # Before the run fails: its task, told to stop, then kills its container instead of
        # leaving it to a later try to re-attach to.
        Sandbox(Path(sandbox)).stop_file.touch()
    dag = DBDagBag().get_dag_for_run(run[0], session=session)
    set_dag_run_state_to_failed(dag=dag, run_id=run[0].run_id, commit=True, session=session)
    return True


def stop_runs(session: Session, job_ids: Iterable[int]) -> None:
    """Stop each run in a transaction of its own, committed before the next: one long transaction
    over many runs locks their rows in an order the scheduler's own locking can meet in a deadlock.
    A stop that still fails is left to the reconciler, which stops the runs of deleted jobs; the
    jobs' own rows are committed already, so the caller's request has done its part."""
    for job_id in job_ids:
        committed(session, lambda job_id=job_id: stop_run(session, job_id), f"job {job_id}: stopping its run")


def committed(session: Session, work: Callable[[], object], what: str) -> bool:
    """Do `work` and commit it, again after a rollback when it fails on a lock (a deadlock with
    the scheduler); False, logged, when it failed every time."""
    for attempt in range(1, STOP_ATTEMPTS + 1):
        try:
            work()
            session.commit()
            return True
        except OperationalError:
            session.rollback()
            if attempt == STOP_ATTEMPTS:
                log.warning("%s failed %s times; left to the reconciler", what, attempt, exc_info=True)
    return False


def rerun(session: Session, job_id: int) -> bool:
    """Run the job's failed run again from its start (a job retry, scheduler/retry.py): Airflow's
    clear, which gives each task instance a new try and keeps the old ones in its history. The
    plan stays as recorded, staging with nothing to stage stays skipped, and each container task
    gets the job's task retries again. False when the run has not ended (a run whose task
    failed may end `success`: its last task, stage-out, runs whatever came before)."""
    # Airflow's ORM loads only where used: this module is imported with the plugin in every task process.
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance as TI
    from airflow.models.taskinstance import clear_task_instances
    from airflow.models.xcom import XComModel
    from airflow.utils.state import DagRunState

    dag_id = get_settings().job_dag_id
    found = DagRun.find(dag_id=dag_id, run_id=run_id_for(job_id), session=session)
    if not found or found[0].state not in (DagRunState.SUCCESS, DagRunState.FAILED):
        return False
    conf = job_conf(found[0].conf)
    kept = [PLAN_TASK] + [task for task, key in ((STAGE_IN_TASK, "stage_in"), (STAGE_OUT_TASK, "stage_out")) if not conf.get(key)]
    tis = list(session.scalars(select(TI).where(TI.dag_id == dag_id, TI.run_id == found[0].run_id, TI.task_id.not_in(kept))))
    clear_task_instances(tis, session, dag_run_state=DagRunState.QUEUED)
    # A task instance clears its XComs only when it runs: one that will not (its stage-in failed)
    # must not leave the failed attempt's report to the next outcome.
    cleared = {ti.task_id for ti in tis}
    session.execute(
        delete(XComModel).where(
            XComModel.dag_id == dag_id,
            XComModel.run_id == found[0].run_id,
            XComModel.task_id.in_(cleared),
            XComModel.key == REPORT_KEY,
        )
    )
    for ti in tis:
        if ti.task_id == CONTAINER_TASK:
            # Clearing gives the DAG's retries (those for tries that died); the job's own are in its conf.
            ti.max_tries = ti.try_number + int(conf.get("task_retries", 0)) + INFRASTRUCTURE_RETRIES
    session.flush()
    return True


def run_confs(session: Session, job_ids: list[int]) -> dict[int, tuple[str, dict[str, Any]]]:
    """The state and conf of the run of each of `job_ids` that has one, in one query."""
    # Airflow's ORM loads only where used: this module is imported with the plugin in every task process.
    from airflow.models.dagrun import DagRun

    runs = {run_id_for(job_id): job_id for job_id in job_ids}
    if not runs:
        return {}
    query = select(DagRun.run_id, DagRun.state, DagRun.conf).where(
        DagRun.dag_id == get_settings().job_dag_id, DagRun.run_id.in_(list(runs))
    )
    return {runs[run_id]: (state, conf or {}) for run_id, state, conf in session.execute(query)}
