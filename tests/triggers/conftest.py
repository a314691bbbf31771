"""A mocked PROMINENCE API for the triggers' polling loop."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from airflow.triggers.base import BaseTrigger

from prominence.hooks.prominence import ProminenceHook
from prominence.triggers import polling


@pytest.fixture
def answers(monkeypatch):
    """The API answers with the queued responses in turn (the last one repeats); `.asked` records the requests.
    A queued callable is called with the request and answers in its place."""

    class Queue(list):
        asked: list[httpx.Request] = []

    queued = Queue()
    asked = queued.asked = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        answer = queued.pop(0) if len(queued) > 1 else queued[0]
        if callable(answer):
            answer = answer(request)
        if isinstance(answer, Exception):
            raise answer
        return answer

    original = ProminenceHook._client_kwargs
    monkeypatch.setattr(
        ProminenceHook,
        "_client_kwargs",
        lambda self, url, token: {**original(self, url, token), "transport": httpx.MockTransport(handler)},
    )
    monkeypatch.setattr(polling, "RETRY_SECONDS", 0)
    monkeypatch.setenv(
        "AIRFLOW_CONN_PROMINENCE_DEFAULT", json.dumps({"conn_type": "http", "host": "http://api/p", "password": "t"})
    )
    return queued


@pytest.fixture
def first_event():
    """Run a trigger until its first event; its payload."""

    def first(trigger: BaseTrigger):
        async def run():
            async for event in trigger.run():
                return event.payload

        return asyncio.run(asyncio.wait_for(run(), 10))

    return first
