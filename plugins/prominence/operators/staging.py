"""Stage-in and stage-out around a job's container tasks.

Data staging (inputs from the request, artifacts, outputs to object storage) is issue #3;
until then a job has nothing to stage and both tasks are skipped at run creation without a
task process. These operators are the seam where that work lands.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator


class StageInOperator(BaseOperator):
    """Fetch the job's artifacts into its sandbox before the first task."""

    def execute(self, context: Any) -> None:
        self.log.info("Nothing to stage in for this job")


class StageOutOperator(BaseOperator):
    """Upload the job's outputs after its tasks, also when a task failed."""

    def execute(self, context: Any) -> None:
        self.log.info("Nothing to stage out for this job")
