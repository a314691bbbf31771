"""The trigger a workflow node runs in the triggerer: it releases the node's jobs and waits for them.

It talks to the PROMINENCE REST API with the workflow's job token (task and trigger code may not
use the metadata database), asking `POST /workflows/<id>/advance` every `workflow_poll_seconds`.
The API releases more of the node's jobs while the workflow's idle cap allows and answers with
the node's state. Once all of the node's jobs are released, only their ends can change that
answer, so the trigger then also asks as soon as one of the workflow's jobs has ended (the
workflow's `events` file changed, store/signals.py: a stat every WATCH_SECONDS, no request).
Before that it keeps to the poll: what frees room under the idle cap is jobs starting, and a
sweep's thousands of ends would each cost a request for nothing. The trigger ends the task
itself (TaskSuccessEvent / TaskFailedEvent), so a node costs no worker slot at any time; a
failed node is retried by Airflow according to its `retries`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from airflow.triggers.base import TaskFailedEvent, TaskSuccessEvent, TriggerEvent

from prominence.config import get_settings
from prominence.contract.workflows import events_file, token_file
from prominence.hooks.prominence import ProminenceHook
from prominence.triggers.polling import ApiPollingTrigger

WATCH_SECONDS = 0.1


class WorkflowNodeTrigger(ApiPollingTrigger):
    def __init__(self, workflow_id: int, job: str) -> None:
        super().__init__()
        self.workflow_id = workflow_id
        self.job = job
        self.poll_seconds = get_settings().workflow_poll_seconds
        self._seen: int | None = None
        self._all_released = False

    def __repr__(self) -> str:
        return f"<WorkflowNodeTrigger workflow {self.workflow_id} job {self.job}>"

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__name__}", {"workflow_id": self.workflow_id, "job": self.job}

    def _try_number(self) -> int:
        ti = self.task_instance
        return int(getattr(ti, "try_number", 1) or 1)

    def hook(self) -> ProminenceHook:
        settings = get_settings()
        token = token_file(self.workflow_id).read_text().strip()
        return ProminenceHook(base_url=settings.public_url, token=token)

    def _events(self) -> int | None:
        try:
            return events_file(self.workflow_id).stat().st_mtime_ns
        except OSError:
            return None

    async def request(self, client: httpx.AsyncClient) -> httpx.Response:
        # Read before asking: an end committed after this is either in the answer or seen below.
        self._seen = self._events()
        return await client.post(f"/workflows/{self.workflow_id}/advance", json={"job": self.job, "try": self._try_number()})

    async def pause(self) -> None:
        if not self._all_released:
            await asyncio.sleep(self.poll_seconds)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.poll_seconds
        while (left := deadline - loop.time()) > 0:
            await asyncio.sleep(min(WATCH_SECONDS, left))
            if self._events() != self._seen:
                return

    def verdict(self, answer: dict[str, Any]) -> TriggerEvent | None:
        if answer["state"] == "succeeded":
            self.log.info("%s succeeded: %s", self, answer)
            return TaskSuccessEvent()
        if answer["state"] in ("failed", "stopped"):
            self.log.info("%s %s: %s", self, answer["state"], answer)
            return TaskFailedEvent()
        settled = answer.get("done", 0) + answer.get("failed", 0) + answer.get("active", 0)
        self._all_released = "total" in answer and settled >= answer["total"]
        return None

    def refusal(self, status: int, message: str) -> TriggerEvent:
        return TaskFailedEvent()
