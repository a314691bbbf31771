"""The trigger a workflow node runs in the triggerer: it releases the node's jobs and waits for them.

It talks to the PROMINENCE REST API with the workflow's job token (task and trigger code may not
use the metadata database), asking `POST /workflows/<id>/advance` every few seconds. The API
releases more of the node's jobs while the workflow's idle cap allows and answers with the node's
state. The trigger ends the task itself (TaskSuccessEvent / TaskFailedEvent), so a node costs no
worker slot at any time; a failed node is retried by Airflow according to its `retries`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from airflow.triggers.base import BaseTrigger, TaskFailedEvent, TaskSuccessEvent

from prominence.config import get_settings

# Transient API failures (restarts, a busy SQLite) are retried; only the node's own verdict ends it.
RETRY_SECONDS = 2.0


class WorkflowNodeTrigger(BaseTrigger):
    def __init__(self, workflow_id: int, job: str) -> None:
        super().__init__()
        self.workflow_id = workflow_id
        self.job = job

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__name__}", {"workflow_id": self.workflow_id, "job": self.job}

    def _try_number(self) -> int:
        ti = self.task_instance
        return int(getattr(ti, "try_number", 1) or 1)

    async def run(self):
        settings = get_settings()
        token = (Path(settings.sandboxes) / f"workflow-{self.workflow_id}" / "token").read_text().strip()
        body = {"job": self.job, "try": self._try_number()}
        url = f"{settings.public_url}/workflows/{self.workflow_id}/advance"
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
            while True:
                try:
                    response = await client.post(url, json=body)
                except httpx.HTTPError as exc:
                    self.log.warning("Workflow %s job %s: API unreachable (%s)", self.workflow_id, self.job, exc)
                    await asyncio.sleep(RETRY_SECONDS)
                    continue
                if response.status_code != 200:
                    self.log.warning("Workflow %s job %s: %s %s", self.workflow_id, self.job, response.status_code, response.text)
                    if response.status_code in (400, 403):
                        yield TaskFailedEvent()
                        return
                    await asyncio.sleep(RETRY_SECONDS)
                    continue
                state = response.json()
                if state["state"] == "succeeded":
                    self.log.info("Workflow %s job %s succeeded: %s", self.workflow_id, self.job, state)
                    yield TaskSuccessEvent()
                    return
                if state["state"] in ("failed", "stopped"):
                    self.log.info("Workflow %s job %s %s: %s", self.workflow_id, self.job, state["state"], state)
                    yield TaskFailedEvent()
                    return
                await asyncio.sleep(settings.workflow_poll_seconds)
