"""Transfers retry an object store that cannot be reached, for the configured time, then fail."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from prominence.storage import s3
from prominence.storage.s3 import retrying, transient


class Clock:
    """time.monotonic and time.sleep, where sleeping moves the clock on at once."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(s3, "time", clock)
    return clock.slept


def flaky(failures: int, error: Exception):
    calls = []

    def call():
        calls.append(1)
        if len(calls) <= failures:
            raise error
        return "done"

    return call, calls


def test_an_unreachable_store_is_tried_again_with_growing_pauses(no_sleep) -> None:
    call, calls = flaky(4, EndpointConnectionError(endpoint_url="http://s3"))
    assert retrying(call, "upload", 120) == "done"
    assert len(calls) == 5
    assert no_sleep == [1.0, 2.0, 4.0, 8.0]


def test_retrying_stops_after_the_configured_time(no_sleep) -> None:
    call, calls = flaky(100, EndpointConnectionError(endpoint_url="http://s3"))
    with pytest.raises(EndpointConnectionError):
        retrying(call, "upload", 20)
    assert sum(no_sleep) <= 20 and len(calls) == len(no_sleep) + 1


def test_a_refusal_is_not_tried_again(no_sleep) -> None:
    denied = ClientError({"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}}, "PutObject")
    call, calls = flaky(1, denied)
    with pytest.raises(ClientError):
        retrying(call, "upload", 120)
    assert len(calls) == 1 and no_sleep == []


def test_server_errors_are_transient() -> None:
    busy = ClientError({"Error": {"Code": "InternalError"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "GetObject")
    assert transient(busy)
    assert not transient(ValueError("bad pattern"))
