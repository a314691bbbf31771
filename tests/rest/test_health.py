"""GET /health: 204 when every component answers, 409 naming the ones that do not."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from prominence.rest import health


@pytest.fixture
def app():
    app = FastAPI()
    app.include_router(health.router)
    return app


def test_all_healthy_is_204_with_no_body(app):
    app.dependency_overrides[health.checks] = lambda: {"DATABASE": lambda: True, "SCHEDULER": lambda: True}
    response = TestClient(app).get("/health")
    assert (response.status_code, response.content) == (204, b"")


def test_failed_and_crashing_checks_are_named(app):
    def broken():
        raise ConnectionError("no database")

    app.dependency_overrides[health.checks] = lambda: {"DATABASE": broken, "SCHEDULER": lambda: False, "OTHER": lambda: True}
    response = TestClient(app).get("/health")
    assert (response.status_code, response.json()) == (409, {"errors": "DATABASE,SCHEDULER"})
