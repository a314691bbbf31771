"""The job DAG's task ids, the run's conf, and the reports its tasks push (read by the scheduler)."""

from __future__ import annotations

from typing import Any

PLAN_TASK = "plan"
CONTAINER_TASK = "task"
STAGE_IN_TASK = "stage_in"
STAGE_OUT_TASK = "stage_out"

# A run's conf sits under this one key: Airflow turns every top-level conf key into a DAG param
# and validates each with jsonschema, in the api-server and in every task process (nine keys:
# 8 ms per run; one: 1 ms).
CONF_KEY = "job"
# The XCom key under which container and staging tasks push their report.
REPORT_KEY = "report"
# The Airflow retries of every job-DAG task, on top of the job's `maximumTaskRetries`. Only a try
# that died without deciding its own end uses one (its task process, worker or scheduler was
# killed, its heartbeat was lost): every failure a task decides itself raises
# AirflowFailException, which Airflow never retries. A container task's next try re-attaches to
# its still-running container (runtimes/execution.py), so the container still runs once.
INFRASTRUCTURE_RETRIES = 3
# A container task's report `error` when the job ran out of walltime.
WALLTIME_EXCEEDED = "WallTimeLimitExceeded"
# ... and when the kernel killed its container for going over the job's memory.
MEMORY_EXCEEDED = "MemoryLimitExceeded"


def job_conf(conf: dict[str, Any] | None) -> dict[str, Any]:
    """What the api-server recorded in a run's conf when it created the run."""
    return (conf or {}).get(CONF_KEY, {})


def run_id_for(job_id: int) -> str:
    """Deterministic, so creating a run twice for one job fails instead of running it twice."""
    return f"job-{job_id}"
