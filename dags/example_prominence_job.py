"""Example: two PROMINENCE jobs in sequence from an ordinary DAG, the second using what the first printed.

This is how a data engineer runs containers on PROMINENCE from their own DAGs: one
`ProminenceJobOperator` per job, Airflow dependencies between them, and the first job's stdout
handed to the second through XCom (`push_stdout=True`) and Jinja. Each job is an ordinary
PROMINENCE job (its own id, status and logs, listed by `prominence list` for the connection's
user); each task waits for its job in the triggerer, holding no worker slot.

Trigger it from the UI or `airflow dags trigger example_prominence_job`; the `image` parameter
defaults to the stack's sample busybox image.
"""

from __future__ import annotations

import os

from airflow.sdk import DAG, Param

from prominence.operators.job import ProminenceJobOperator


def busybox_job(name: str, cmd: str) -> dict:
    return {
        "name": name,
        "resources": {"cpus": 1, "memory": 1, "disk": 1},
        "tasks": [{"image": "{{ params.image }}", "runtime": "singularity", "cmd": cmd}],
    }


with DAG(
    dag_id="example_prominence_job",
    schedule=None,
    catchup=False,
    tags=["prominence", "example"],
    params={"image": Param(os.environ.get("SAMPLE_IMAGE", "busybox:latest"), type="string")},
    doc_md=__doc__,
) as dag:
    compute = ProminenceJobOperator(
        task_id="compute",
        job=busybox_job("compute", "expr 6 '*' 7"),
        push_stdout=True,
    )
    report = ProminenceJobOperator(
        task_id="report",
        job=busybox_job("report", "echo the answer is {{ ti.xcom_pull(task_ids='compute', key='stdout') | trim }}"),
    )
    compute >> report
