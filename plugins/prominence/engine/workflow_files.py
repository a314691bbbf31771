"""One generated DAG file per workflow in the workflows bundle, written by the api-server.

The file embeds only the graph (node names, edges, retries, ids); the jobs themselves stay in
our tables and are released by the nodes through the REST API. `schedule="@once"` makes the
scheduler start the workflow's single run as soon as the dag-processor has parsed the file,
so nothing has to poll for the DAG to appear. Files never change; they are removed once the
workflow has finished (unless `leaveInQueue`) or is deleted.
"""

from __future__ import annotations

import json
import os
from typing import Any

from prominence.contract.workflows import dag_file

_TEMPLATE = '''"""PROMINENCE workflow {workflow_id} ({name!r}): an Airflow DAG generated at submission."""

from prominence.dags.workflow import build_dag

dag = build_dag({graph})
'''


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
