"""The state of jobs that have not ended yet, read from Airflow's task instances in one query."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from prominence.config import get_settings
from prominence.contract.tasks import CONTAINER_TASK, STAGE_IN_TASK, run_id_for


def start_times(session: Session, job_ids: Iterable[int]) -> dict[int, int]:
    """Epoch start of each job whose first real task has started; absent ones are still queued."""
    # Airflow's ORM loads only where used: this module is imported with the plugin in every task process.
    from airflow.models.taskinstance import TaskInstance as TI

    runs = {run_id_for(job_id): job_id for job_id in job_ids}
    if not runs:
        return {}
    rows = session.execute(
        select(TI.run_id, func.min(TI.start_date))
        .where(
            TI.dag_id == get_settings().job_dag_id,
            TI.run_id.in_(list(runs)),
            TI.task_id.in_((STAGE_IN_TASK, CONTAINER_TASK)),
            TI.start_date.is_not(None),
        )
        .group_by(TI.run_id)
    )
    return {runs[run_id]: int(started.timestamp()) for run_id, started in rows if started is not None}
