"""One generated DAG per workflow: the file written into the workflows bundle, and the DAG it builds.

The file embeds only the graph (node names, edges, retries, ids); the jobs themselves stay in
our tables and are released by the nodes through the REST API. `schedule="@once"` makes the
scheduler start the workflow's single run as soon as the dag-processor has parsed the file,
so nothing has to poll for the DAG to appear. Files never change; they are removed once the
workflow has finished (unless `leaveInQueue`) or is deleted.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from prominence.config import get_settings

_TEMPLATE = '''"""PROMINENCE workflow {workflow_id} ({name!r}): an Airflow DAG generated at submission."""

from prominence.engine.workflow_dag import build_dag

dag = build_dag({graph})
'''


def dag_id_for(workflow_id: int) -> str:
    return f"{get_settings().workflow_dag_prefix}{workflow_id}"


def workflow_id_of(dag_id: str) -> int | None:
    prefix = get_settings().workflow_dag_prefix
    if dag_id.startswith(prefix) and dag_id[len(prefix) :].isdigit():
        return int(dag_id[len(prefix) :])
    return None


def dag_file(workflow_id: int) -> Path:
    return get_settings().workflow_dags / f"workflow_{workflow_id}.py"


def graph_of(workflow_id: int, name: str, created: int, description: Any) -> dict[str, Any]:
    """What the DAG file needs: nodes in submission order, their parents, the node retries."""
    return {
        "workflow_id": workflow_id,
        "name": name,
        "created": created,
        "retries": description.policies.maximum_retries,
        "nodes": [job.name for job in description.jobs],
        "parents": description.parents(),
    }


def write_dag_file(graph: dict[str, Any]) -> None:
    """Atomically, so the dag-processor never parses half a file."""
    path = dag_file(graph["workflow_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(_TEMPLATE.format(workflow_id=graph["workflow_id"], name=graph["name"], graph=json.dumps(graph)))
    os.replace(tmp, path)


def remove_dag_file(workflow_id: int) -> None:
    dag_file(workflow_id).unlink(missing_ok=True)


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
    """The DAG of one workflow: a WorkflowNodeOperator per job, edges from `dependencies`."""
    from airflow.sdk import DAG

    from prominence.operators.workflow import WorkflowNodeOperator

    workflow_id = graph["workflow_id"]
    ids = task_ids(graph["nodes"])
    with DAG(
        dag_id=dag_id_for(workflow_id),
        schedule="@once",
        start_date=datetime.fromtimestamp(graph["created"], timezone.utc) - timedelta(minutes=1),
        catchup=False,
        max_active_runs=1,
        max_active_tasks=100000,
        tags=["prominence", "workflow"],
        description=f"PROMINENCE workflow {workflow_id} {graph['name']}".strip(),
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
