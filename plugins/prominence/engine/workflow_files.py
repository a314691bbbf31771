"""One generated DAG file per workflow in the workflows bundle, written by the api-server.

The file embeds only the graph (node names, edges, retries, ids); the jobs themselves stay in
our tables and are released by the nodes through the REST API. `schedule="@once"` makes the
scheduler start the workflow's single run as soon as the dag-processor has parsed the file,
so nothing has to poll for the DAG to appear. Files never change; they are removed once the
workflow has finished (unless `leaveInQueue`) or is deleted. The DAG grants its owner's own UI
role read access (docs/ui.md); the dag-processor syncs that at each parse and fails the DAG if
the role is missing, so the role is created before the file is written.
"""

from __future__ import annotations

import json
import os
from typing import Any

from prominence.contract.workflows import dag_file, owner_role

_TEMPLATE = '''"""PROMINENCE workflow {workflow_id} ({name!r}): an Airflow DAG generated at submission."""

from prominence.dags.workflow import build_dag

dag = build_dag({graph})
'''


def graph_of(workflow_id: int, owner: str, name: str, created: int, description: Any) -> dict[str, Any]:
    """What the DAG file needs: nodes in submission order, their parents, the node retries."""
    return {
        "workflow_id": workflow_id,
        "owner": owner,
        "name": name,
        "created": created,
        "retries": description.policies.maximum_retries,
        "nodes": [job.name for job in description.jobs],
        "parents": description.parents(),
    }


def write_dag_file(graph: dict[str, Any]) -> None:
    """Atomically, so the dag-processor never parses half a file."""
    ensure_owner_role(graph["owner"])
    path = dag_file(graph["workflow_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(_TEMPLATE.format(workflow_id=graph["workflow_id"], name=graph["name"], graph=json.dumps(graph)))
    os.replace(tmp, path)


def remove_dag_file(workflow_id: int) -> None:
    dag_file(workflow_id).unlink(missing_ok=True)


# Roles this process has made sure of (PROMINENCE never removes one): each costs one session.
_ensured: set[str] = set()


def ensure_owner_role(username: str) -> None:
    """The owner's UI role, without permissions of its own: the DAGs' access control grants them."""
    role = owner_role(username)
    if role in _ensured:
        return
    # Loaded only here, as in engine/runs.py: Airflow's models load with the first use.
    from airflow.configuration import conf

    if "FabAuthManager" not in conf.get("core", "auth_manager"):
        return
    # The FAB provider only where it is the auth manager.
    from airflow.providers.fab.www.security_appless import ApplessAirflowSecurityManager
    from airflow.utils.session import create_session

    with create_session() as session:
        ApplessAirflowSecurityManager(session=session).add_role(role)
    _ensured.add(role)
