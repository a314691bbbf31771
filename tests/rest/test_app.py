"""What the app does to its process when it starts serving."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from prominence.rest import app as rest_app


def test_what_is_loaded_before_the_first_request_is_frozen_once(app, client, monkeypatch):
    """Frozen objects stay out of garbage collections (a full one took 420 ms in the api-server);
    a second app in the same process freezes nothing more."""
    rest_app.freeze_loaded_objects.cache_clear()
    freezes: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: freezes.append(len(freezes)))
    client.get("/health")
    client.get("/health")
    TestClient(rest_app.create_app(), base_url="http://test").get("/health")
    assert freezes == [0]
