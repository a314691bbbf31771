"""The job DAG's retries: every task gets Airflow's retries for tries that die without deciding
their end, and a container task the job's own task retries on top (scheduler/policy.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

from prominence.contract.tasks import (
    CONF_KEY,
    CONTAINER_TASK,
    INFRASTRUCTURE_RETRIES,
    PLAN_TASK,
    STAGE_IN_TASK,
    STAGE_OUT_TASK,
)
from prominence.scheduler.policy import apply_job_policy


def new_ti(task_id: str, max_tries: int = INFRASTRUCTURE_RETRIES) -> SimpleNamespace:
    """A task instance as Airflow creates it: its max_tries the task's retries."""
    return SimpleNamespace(dag_id="prominence_job", task_id=task_id, state=None, max_tries=max_tries)


def run(**conf) -> SimpleNamespace:
    return SimpleNamespace(conf={CONF_KEY: {"job_id": 7, "cpus": 2, **conf}})


def test_every_task_of_the_job_dag_is_retried_when_its_try_dies():
    path = Path(__file__).resolve().parents[2] / "dags" / "prominence_job.py"
    spec = importlib.util.spec_from_file_location("prominence_job", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for task_id in (STAGE_IN_TASK, CONTAINER_TASK, STAGE_OUT_TASK):
        assert module.dag.get_task(task_id).retries == INFRASTRUCTURE_RETRIES, task_id


def test_a_container_task_gets_the_jobs_task_retries_on_top():
    ti = new_ti(CONTAINER_TASK)
    apply_job_policy(ti, run(task_retries=2))
    assert (ti.max_tries, ti.pool_slots) == (2 + INFRASTRUCTURE_RETRIES, 2)

    plain = new_ti(CONTAINER_TASK)
    apply_job_policy(plain, run())
    assert plain.max_tries == INFRASTRUCTURE_RETRIES


def test_a_retried_container_task_keeps_its_tries():
    """An instance seen again after its first try (not created) keeps what it has."""
    ti = new_ti(CONTAINER_TASK, max_tries=9)
    ti.state = "up_for_retry"
    apply_job_policy(ti, run(task_retries=2))
    assert ti.max_tries == 9


def test_staging_tasks_keep_the_dags_retries_or_are_skipped():
    stage_in, stage_out = new_ti(STAGE_IN_TASK), new_ti(STAGE_OUT_TASK)
    apply_job_policy(stage_in, run(stage_in=True))
    apply_job_policy(stage_out, run())
    assert (stage_in.state, stage_in.max_tries) == (None, INFRASTRUCTURE_RETRIES)
    assert stage_out.state == "skipped"


def test_the_plan_is_done_when_the_run_is_created():
    """Its output is recorded with the run, so the scheduler expands the container task at once."""
    plan = new_ti(PLAN_TASK)
    apply_job_policy(plan, run())
    assert plan.state == "success"
