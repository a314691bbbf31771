"""The generic PROMINENCE job DAG: every job is one run of it, its graph taken from the run's conf.

`plan` is completed by the scheduler without a task process; its mapped output (one entry per
job task) is recorded when the run is created, so `task` expands to the job's container tasks.
`stage_in` and `stage_out` are skipped at run creation when the job has nothing to stage
(see plugins/airflow_local_settings.py), so such a job costs one task process per task.
Every task has INFRASTRUCTURE_RETRIES Airflow retries, used only by a try that died without
deciding its end (contract/tasks.py); the container task gets the job's own task retries on top.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, XComArg

from prominence.config import get_settings
from prominence.contract.tasks import CONTAINER_TASK, INFRASTRUCTURE_RETRIES, PLAN_TASK, STAGE_IN_TASK, STAGE_OUT_TASK
from prominence.operators.container import ContainerTaskOperator
from prominence.operators.staging import StageInOperator, StageOutOperator

# The label of each container task in the UI: the job's task number and its image.
MAP_INDEX_TEMPLATE = "task {{ ti.map_index }}: {{ dag_run.conf.job.get('images', [])[ti.map_index] | default('') }}"

with DAG(
    dag_id=get_settings().job_dag_id,
    schedule=None,
    catchup=False,
    max_active_runs=100000,
    max_active_tasks=100000,
    tags=["prominence"],
    default_args={"retries": INFRASTRUCTURE_RETRIES, "retry_delay": timedelta(seconds=0)},
    doc_md=__doc__,
) as dag:
    plan = EmptyOperator(task_id=PLAN_TASK)
    stage_in = StageInOperator(task_id=STAGE_IN_TASK)
    tasks = ContainerTaskOperator.partial(
        task_id=CONTAINER_TASK,
        pool=get_settings().pool,
        max_active_tis_per_dagrun=1,
        trigger_rule="none_failed",
        map_index_template=MAP_INDEX_TEMPLATE,
    ).expand(index=XComArg(plan))
    stage_out = StageOutOperator(task_id=STAGE_OUT_TASK, trigger_rule="all_done")
    [plan, stage_in] >> tasks >> stage_out
