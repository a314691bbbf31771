"""The one polling loop of PROMINENCE triggers: ask the REST API the same question until the answer is final.

Both the public job trigger and the workflow node trigger wait this way, in the triggerer, so a
waiting task holds no worker slot. Transient failures (the API restarting, a busy SQLite, a 5xx)
are retried; a 4xx is a refusal that asking again would not change, so it ends the wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
from airflow.triggers.base import BaseTrigger, TriggerEvent

from prominence.hooks.prominence import ProminenceHook, refused

RETRY_SECONDS = 2.0


class ApiPollingTrigger(BaseTrigger):
    """Subclasses say whom to ask (`hook`), what (`request`) and when the answer is final (`verdict`)."""

    poll_seconds: float = 1.0

    def hook(self) -> ProminenceHook:
        raise NotImplementedError

    async def request(self, client: httpx.AsyncClient) -> httpx.Response:
        raise NotImplementedError

    async def pause(self) -> None:
        """Wait before asking again: `poll_seconds`, unless a subclass knows a sooner sign."""
        await asyncio.sleep(self.poll_seconds)

    def verdict(self, answer: Any) -> TriggerEvent | None:
        """The event that ends the wait, or None to ask again after `pause`."""
        raise NotImplementedError

    def refusal(self, status: int, message: str) -> TriggerEvent:
        """The event that ends the wait when the API refuses the question."""
        raise NotImplementedError

    async def run(self) -> AsyncIterator[TriggerEvent]:
        async with await self.hook().get_async_conn() as client:
            while True:
                try:
                    response = await self.request(client)
                except httpx.HTTPError as exc:
                    self.log.warning("%s: API unreachable (%s)", self, exc)
                    await asyncio.sleep(RETRY_SECONDS)
                    continue
                if 400 <= response.status_code < 500:
                    error = refused(response)
                    self.log.warning("%s: %s", self, error)
                    yield self.refusal(error.status, str(error))
                    return
                if response.status_code != 200:
                    self.log.warning("%s: %s %s", self, response.status_code, response.text)
                    await asyncio.sleep(RETRY_SECONDS)
                    continue
                event = self.verdict(response.json())
                if event is not None:
                    yield event
                    return
                await self.pause()
