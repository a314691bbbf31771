"""Where a workflow lives outside our tables: its generated DAG's id and file, its token, and the
marks its jobs' ends leave (store/signals.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from prominence.config import get_settings


def dag_id_for(workflow_id: int) -> str:
    return f"{get_settings().workflow_dag_prefix}{workflow_id}"


def owner_role(username: str) -> str:
    """The Airflow UI role of one user, which their workflows' DAGs grant read access (docs/ui.md);
    a name too long for FAB's role table (64 characters) is replaced by its hash."""
    role = f"ProminenceUser:{username}"
    return role if len(role) <= 64 else f"ProminenceUser:{hashlib.sha256(username.encode()).hexdigest()[:48]}"


def workflow_id_of(dag_id: str) -> int | None:
    prefix = get_settings().workflow_dag_prefix
    if dag_id.startswith(prefix) and dag_id[len(prefix) :].isdigit():
        return int(dag_id[len(prefix) :])
    return None


def dag_file(workflow_id: int) -> Path:
    return get_settings().workflow_dags / f"workflow_{workflow_id}.py"


def token_file(workflow_id: int) -> Path:
    """The workflow's job token, read by its nodes' triggers to call the API."""
    return get_settings().sandboxes / f"workflow-{workflow_id}" / "token"


def events_file(workflow_id: int) -> Path:
    """Touched each time one of the workflow's jobs ends: its nodes' triggers watch its mtime."""
    return get_settings().sandboxes / f"workflow-{workflow_id}" / "events"


def ended_marks() -> Path:
    """The folder of one empty file per workflow with jobs that may be released (it is new, or a job
    of it ended), taken by the api-server (engine/workflow_events.py)."""
    return get_settings().home / "workflow-ended"
