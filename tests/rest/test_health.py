"""GET /health: 204 when every component answers, 409 naming the ones that do not."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from prominence.rest import health


@pytest.fixture
def client():
    app = FastAPI()
    app.include_router(health.router)
    return TestClient(app)


def test_all_healthy_is_204_with_no_body(client, monkeypatch):
    monkeypatch.setattr(health, "CHECKS", {"DATABASE": lambda: True, "SCHEDULER": lambda: True})
    response = client.get("/health")
    assert (response.status_code, response.content) == (204, b"")


def test_failed_and_crashing_checks_are_named(client, monkeypatch):
    def broken():
        raise ConnectionError("no database")

    monkeypatch.setattr(health, "CHECKS", {"DATABASE": broken, "SCHEDULER": lambda: False, "OTHER": lambda: True})
    response = client.get("/health")
    assert (response.status_code, response.json()) == (409, {"errors": "DATABASE,SCHEDULER"})
