"""The trigger behind `ProminenceJobOperator`: waits in the triggerer until a PROMINENCE job has ended."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
from airflow.triggers.base import TriggerEvent

from prominence.contract.states import TERMINAL
from prominence.hooks.prominence import ProminenceHook
from prominence.triggers.polling import ApiPollingTrigger

# Spec §5: the states a job never leaves.


class ProminenceJobTrigger(ApiPollingTrigger):
    """Polls `GET /jobs/<id>`; its event is `{"job_id", "job"}` with the ended job as described,
    or `{"job_id", "error"}` when the job cannot be seen (deleted from the queue, not the caller's)."""

    def __init__(
        self, job_id: int, prominence_conn_id: str = ProminenceHook.default_conn_name, poll_seconds: float = 2.0
    ) -> None:
        super().__init__()
        self.job_id = job_id
        self.prominence_conn_id = prominence_conn_id
        self.poll_seconds = poll_seconds

    def __repr__(self) -> str:
        return f"<ProminenceJobTrigger job {self.job_id}>"

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__name__}", {
            "job_id": self.job_id,
            "prominence_conn_id": self.prominence_conn_id,
            "poll_seconds": self.poll_seconds,
        }

    def hook(self) -> ProminenceHook:
        return ProminenceHook(self.prominence_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # Waiting one interval first lets the scheduler see the deferring run of the task end
        # before the task resumes: Airflow fails a resumed task whose executor event for the
        # deferring run arrives after it (seen on a loaded machine with a one-second job).
        await asyncio.sleep(self.poll_seconds)
        async for event in super().run():
            yield event

    async def request(self, client: httpx.AsyncClient) -> httpx.Response:
        return await client.get(f"/jobs/{self.job_id}")

    def verdict(self, answer: list[dict[str, Any]]) -> TriggerEvent | None:
        if not answer:
            return TriggerEvent({"job_id": self.job_id, "error": f"job {self.job_id} no longer exists"})
        if answer[0].get("status") in TERMINAL:
            return TriggerEvent({"job_id": self.job_id, "job": answer[0]})
        return None

    def refusal(self, status: int, message: str) -> TriggerEvent:
        return TriggerEvent({"job_id": self.job_id, "error": message})
