"""The DAG of one workflow, built by the dag-processor from the graph its generated file embeds."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from prominence.contract.workflows import dag_id_for, owner_role
from prominence.operators.workflow import WorkflowNodeOperator


def task_ids(nodes: list[str]) -> dict[str, str]:
    """Airflow task ids for job names (which may hold spaces and slashes), unique per DAG."""
    result: dict[str, str] = {}
    for name in nodes:
        base = re.sub(r"[^\w.-]", "_", name)[:200] or "job"
        candidate, n = base, 1
        while candidate in result.values():
            n += 1
            candidate = f"{base}__{n}"
        result[name] = candidate
    return result


def build_dag(graph: dict[str, Any]):
    """The DAG of one workflow: a WorkflowNodeOperator per job, edges from `dependencies`; its
    owner's UI role may read it and its run."""
    workflow_id = graph["workflow_id"]
    ids = task_ids(graph["nodes"])
    with DAG(
        dag_id=dag_id_for(workflow_id),
        schedule="@once",
        start_date=datetime.fromtimestamp(graph["created"], UTC) - timedelta(minutes=1),
        catchup=False,
        max_active_runs=1,
        max_active_tasks=100000,
        tags=["prominence", "workflow"],
        description=f"PROMINENCE workflow {workflow_id} {graph['name']}".strip(),
        access_control={owner_role(graph["owner"]): {"DAGs": {"can_read"}, "DAG Runs": {"can_read"}}},
    ) as dag:
        nodes = {
            name: WorkflowNodeOperator(
                task_id=ids[name],
                workflow_id=workflow_id,
                job=name,
                retries=graph["retries"],
                retry_delay=timedelta(seconds=0),
            )
            for name in graph["nodes"]
        }
        for child, parents in graph["parents"].items():
            for parent in parents:
                nodes[parent] >> nodes[child]
    return dag
