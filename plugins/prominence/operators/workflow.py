"""The node of a workflow DAG: one PROMINENCE job (or all instances of a factory job) run and awaited.

It starts in the triggerer (`start_from_trigger`): the scheduler defers it the moment it is
scheduled, with no worker process, and `WorkflowNodeTrigger` releases its jobs and waits for
them. A thousand waiting nodes therefore hold no worker slot. `execute` is the same path for
runs that do start on a worker (e.g. `dag.test()`).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException
from airflow.triggers.base import StartTriggerArgs

from prominence.triggers.workflow import WorkflowNodeTrigger

TRIGGER = f"{WorkflowNodeTrigger.__module__}.{WorkflowNodeTrigger.__name__}"


class WorkflowNodeOperator(BaseOperator):
    """Run job `job` of PROMINENCE workflow `workflow_id`; fails when any of its instances fails."""

    ui_color = "#e8f4d9"
    start_from_trigger = True

    def __init__(self, *, workflow_id: int, job: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.workflow_id = workflow_id
        self.job = job
        self.start_trigger_args = StartTriggerArgs(
            trigger_cls=TRIGGER,
            trigger_kwargs={"workflow_id": workflow_id, "job": job},
            next_method="execute_complete",
        )

    def execute(self, context: Any) -> None:
        self.defer(trigger=WorkflowNodeTrigger(self.workflow_id, self.job), method_name="execute_complete")

    def execute_complete(self, context: Any, event: Any = None) -> None:
        if not isinstance(event, dict) or event.get("state") != "succeeded":
            raise AirflowException(f"job {self.job} of workflow {self.workflow_id} failed")
