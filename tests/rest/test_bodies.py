"""Request bodies are bounded and read only once the caller is known: for every route of the app
(from its route table, so a new route is covered), a 256 MiB body without a token is refused
401 without a byte of it read, and with a token refused 413 from its Content-Length alone (or
after at most the cap when it has none). Bodies that would break a file name or the database are
400s, never 500s."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from fastapi.routing import APIRoute

from prominence.config import get_settings

HUGE = 256 * 1024 * 1024
CHUNK = 64 * 1024
PUBLIC = {"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
READS_A_BODY = {
    ("POST", "/jobs"),
    ("POST", "/workflows"),
    ("POST", "/workflows/{workflow_id}/advance"),
    ("POST", "/kv/{key:path}"),
    ("POST", "/data/upload"),
    ("POST", "/data"),
    ("POST", "/data/output"),
}


def operations(app) -> list[tuple[str, str]]:
    return sorted(
        (method, route.path)
        for route in app.routes
        if isinstance(route, APIRoute) and route.path not in PUBLIC
        for method in route.methods
    )


def filled(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def send_body(app, method: str, path: str, *, declared: int | None, chunks: int, token: bool = False) -> tuple[int, dict, int]:
    """Call the ASGI app with a body of `chunks` × 64 KiB, optionally declaring `declared` bytes:
    the status, the JSON answer, and how many chunks the app asked for."""
    headers = [(b"content-type", b"application/json")]
    if declared is not None:
        headers.append((b"content-length", str(declared).encode()))
    if token:
        headers.append((b"authorization", b"Bearer overridden-by-the-test"))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "server": ("test", 80),
        "client": ("127.0.0.1", 1),
    }
    asked = 0
    answer: dict = {"body": b""}

    async def receive() -> dict:
        nonlocal asked
        asked += 1
        return {"type": "http.request", "body": b" " * CHUNK, "more_body": asked < chunks}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    asyncio.run(app(scope, receive, send))
    return answer["status"], json.loads(answer["body"]), asked


def test_every_route_without_a_token_is_401_before_reading_the_body(app):
    assert READS_A_BODY <= set(operations(app))
    for method, path in operations(app):
        status, answer, asked = send_body(app, method, filled(path), declared=HUGE, chunks=HUGE // CHUNK)
        assert (status, answer, asked) == (401, {"error": "Authentication failure"}, 0), (method, path)


def test_a_declared_oversized_body_is_413_unread_once_authenticated(app, as_user):
    as_user("alice", job="w-uuid")
    for method, path in sorted(READS_A_BODY):
        status, answer, asked = send_body(app, method, filled(path), declared=HUGE, chunks=HUGE // CHUNK, token=True)
        assert (status, answer, asked) == (413, {"error": "Request body too large"}, 0), (method, path)


def test_an_undeclared_body_is_cut_at_the_cap(app, as_user):
    as_user("alice")
    status, answer, asked = send_body(app, "POST", "/jobs", declared=None, chunks=HUGE // CHUNK, token=True)
    assert (status, answer) == (413, {"error": "Request body too large"})
    assert asked == get_settings().max_body_bytes // CHUNK + 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "Request body is not valid JSON"),
        ('{"labels": ' + "[" * 70 + "]" * 70 + "}", "Request body nested deeper than 64 levels"),
        ('{"name": "a\\u0000b"}', "Request body contains a NUL character"),
        ('{"inputs": [{"filename": "\\ud800", "content": ""}]}', "Request body contains an unpaired surrogate"),
        ('{"\\udfff": 1}', "Request body contains an unpaired surrogate"),
    ],
)
@pytest.mark.parametrize("path", ["/jobs", "/workflows", "/data/upload"])
def test_bodies_that_no_file_or_database_could_hold_are_400(client, as_user, body, message, path):
    as_user("alice")
    response = client.post(path, content=body.encode())
    assert (response.status_code, response.json()) == (400, {"error": message})


def test_advance_validates_its_body_after_the_token(client, as_user):
    as_user("alice", job="w-uuid")
    response = client.post("/workflows/1/advance", json={"try": 0})
    assert (response.status_code, response.json()) == (400, {"error": "invalid advance request: a job name and a try from 1"})
