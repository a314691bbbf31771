"""Job retries (`maximumRetries`, spec §3.4 and §5.2): what an ended run means for its job.

A job whose attempt failed the way the wrapper's exit code 1 says (spec §13.8: a task exited
non-zero unless `reportJobSuccessOnTaskFailure`, an image pull failed, staging failed) or whose
worker was lost is run again from its first task, up to `maximumRetries` times. A job over its
walltime or its memory is not: it would only hit the same limit again (the original's batch
system removes such a job too); a deleted job is terminal already. Each attempt is kept in
`execution.attempts` with its failure class and reason.

The run is re-run by clearing it (Airflow's own way to run a DAG run again: every task instance
gets a new try, the old ones stay in the task history and the UI), not by task retries, which
re-run one task and never the stage-in and the tasks before it. The scheduler's listener only
records the failed attempt; the reconciler clears the run (engine/retries.py), since clearing a
run inside the scheduler's own state update of it is not something Airflow supports.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from prominence.contract.states import TERMINAL
from prominence.contract.tasks import job_conf
from prominence.scheduler.outcome import outcome_of
from prominence.store import jobs as store

# Failure classes of scheduler/outcome.py that a job retry runs again.
RETRIED = frozenset({"task", "image", "staging", "infrastructure"})


def wants_retry(failure: str | None, conf: dict[str, Any], retries_done: int) -> bool:
    """Whether an attempt that failed with `failure` is run again (`conf`: the run's conf)."""
    if failure == "task" and conf.get("task_failures_ok"):
        return False
    return failure in RETRIED and retries_done < int(conf.get("max_retries", 0))


def attempt_entry(number: int, result: dict[str, Any]) -> dict[str, Any]:
    """One attempt as `execution.attempts` shows it (`number` counts from 1)."""
    entry: dict[str, Any] = {"attempt": number}
    if result.get("start_time"):
        entry["startTime"] = result["start_time"]
    entry["endTime"] = result["end_time"]
    if result.get("failure"):
        entry.update(failure=result["failure"], reason=result["failure_reason"])
    return entry


def settle(writes: Session, airflow: Session, dag_run: Any) -> bool:
    """Store what the ended `dag_run` means for its job, through `writes` (our tables), reading
    the run's reports through `airflow`: its terminal state, or, when it is to be retried, the
    failed attempt with the job left active. True when the caller is to re-run it.

    Idempotent: the attempt is recorded at the index of the run's clear number, so the listener
    and then the reconciler may both settle one ended attempt."""
    conf = job_conf(dag_run.conf)
    row = store.get_job(writes, conf["job_id"])
    if row is None or row.status in TERMINAL:
        return False
    result = outcome_of(airflow, dag_run)
    done = int(getattr(dag_run, "clear_number", 0) or 0)
    attempts = list((row.execution or {}).get("attempts", []))[:done]
    if conf.get("max_retries"):
        attempts.append(attempt_entry(done + 1, result))
    failure = result.pop("failure")
    result.pop("failure_reason")
    if wants_retry(failure, conf, done):
        store.record_attempts(writes, conf["job_id"], {"retries": done + 1, "attempts": attempts})
        return True
    if done:
        result["execution"]["retries"] = done
    if attempts:
        result["execution"]["attempts"] = attempts
    store.finish_job(writes, conf["job_id"], **result)
    return False
