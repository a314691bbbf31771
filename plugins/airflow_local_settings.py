"""Airflow cluster policy: per-run resources, priority and retries for the generic job DAG.

The scheduler calls this hook for every task instance of a run when the run is created and
again for each mapped instance at expansion, with the run at hand, so one generic DAG can
honour each job's own cpus (pool slots), priority and task retries.
"""

from __future__ import annotations

from prominence.scheduler.policy import apply_job_policy as task_instance_mutation_hook  # noqa: F401
