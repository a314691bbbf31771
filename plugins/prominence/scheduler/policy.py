"""Per-job settings applied to the job DAG's task instances (the Airflow cluster policy hook)."""

from __future__ import annotations

from typing import Any

from prominence.config import get_settings
from prominence.contract.tasks import CONTAINER_TASK, INFRASTRUCTURE_RETRIES, PLAN_TASK, STAGE_IN_TASK, STAGE_OUT_TASK, job_conf


def apply_job_policy(task_instance: Any, dag_run: Any = None) -> None:
    settings = get_settings()
    if task_instance.dag_id != settings.job_dag_id or dag_run is None:
        return
    conf = job_conf(dag_run.conf)
    if not conf:
        return
    created = task_instance.state is None
    if task_instance.task_id == CONTAINER_TASK:
        task_instance.pool = settings.pool
        task_instance.pool_slots = max(int(conf.get("cpus", 1)), 1)
        task_instance.priority_weight = int(conf.get("priority", 0)) + 1
        if created:
            # The job's task retries, and the DAG's retries for tries that died (contract/tasks.py).
            task_instance.max_tries = int(conf.get("task_retries", 0)) + INFRASTRUCTURE_RETRIES
    elif created and task_instance.task_id == PLAN_TASK:
        # Its output is recorded with the run (engine/runs.py): done at creation, the scheduler
        # expands and queues the container task in the loop that starts the run, not one later.
        task_instance.state = "success"
    elif created and task_instance.task_id == STAGE_IN_TASK and not conf.get("stage_in"):
        task_instance.state = "skipped"
    elif created and task_instance.task_id == STAGE_OUT_TASK and not conf.get("stage_out"):
        task_instance.state = "skipped"
