"""The key-value routes (spec §11) as the CLI calls them, on an in-memory database."""

from __future__ import annotations

import pytest

from prominence.auth.tokens import mint_token
from prominence.config import get_settings


def auth(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(user)}"}


ALICE = auth("alice")


def test_set_get_list_delete(client):
    created = client.post("/kv/dir/k1", content=b"v1", headers=ALICE)
    assert (created.status_code, created.json()) == (201, {})
    client.post("/kv//dir//k2", content=b"v2", headers=ALICE)
    got = client.get("/kv/dir/k1", headers=ALICE)
    assert (got.status_code, got.content, got.headers["content-type"]) == (200, b"v1", "text/plain; charset=utf-8")
    assert client.get("/kv/dir/k2", headers=ALICE).text == "v2"
    assert client.get("/kv?list=true", headers=ALICE).json() == ["/dir/k1", "/dir/k2"]
    assert client.get("/kv/dir?list", headers=ALICE).json() == ["/dir/k1", "/dir/k2"]
    assert client.get("/kv?list&values", headers=ALICE).json() == [{"/dir/k1": "v1"}, {"/dir/k2": "v2"}]
    deleted = client.delete("/kv/dir/k1", headers=ALICE)
    assert (deleted.status_code, deleted.json()) == (200, {})
    assert client.get("/kv?list", headers=ALICE).json() == ["/dir/k2"]


def test_missing_key_is_the_one_404(client):
    missing = client.get("/kv/nothing", headers=ALICE)
    assert (missing.status_code, missing.json()) == (404, {"error": "No such key"})


@pytest.mark.parametrize(("method", "path"), [("GET", "/kv"), ("GET", "/kv/"), ("POST", "/kv/"), ("DELETE", "/kv//")])
def test_key_not_specified(client, method, path):
    answer = client.request(method, path, content=b"v", headers=ALICE)
    assert (answer.status_code, answer.json()) == (400, {"error": "Key not specified"})


def test_value_limits(client):
    limit = get_settings().kv_max_bytes
    empty = client.post("/kv/k", content=b"", headers=ALICE)
    assert (empty.status_code, empty.json()) == (400, {"error": "No value provided"})
    assert client.post("/kv/k", content=b"x" * limit, headers=ALICE).status_code == 201
    larger = client.post("/kv/k", content=b"y" * (limit + 1), headers=ALICE)
    assert (larger.status_code, larger.json()) == (400, {"error": "Content of value too large"})
    assert client.get("/kv/k", headers=ALICE).content == b"x" * limit


def test_binary_value_round_trips_as_octet_stream(client):
    value = bytes(range(256))
    client.post("/kv/bin", content=value, headers=ALICE)
    got = client.get("/kv/bin", headers=ALICE)
    assert (got.content, got.headers["content-type"]) == (value, "application/octet-stream")


def test_compare_and_set(client):
    client.post("/kv/k", content=b"old", headers=ALICE)
    refused = client.post("/kv/k?prev=other", content=b"new", headers=ALICE)
    assert (refused.status_code, refused.json()) == (400, {"error": "Atomic replacement not successful"})
    assert client.post("/kv/k?prev=old", content=b"new", headers=ALICE).status_code == 201
    assert client.get("/kv/k", headers=ALICE).text == "new"


def test_delete_prefix_and_internal_keys_hidden(client):
    for key in ("a/1", "a/2", "ab", "b", "x/_internal_/h"):
        client.post(f"/kv/{key}", content=b"v", headers=ALICE)
    assert client.get("/kv?list", headers=ALICE).json() == ["/a/1", "/a/2", "/ab", "/b"]
    assert client.delete("/kv/a?prefix=True", headers=ALICE).status_code == 200
    assert client.get("/kv?list", headers=ALICE).json() == ["/b"]
    assert client.delete("/kv/nothing", headers=ALICE).status_code == 200


def test_users_are_apart(client):
    client.post("/kv/k", content=b"alice's", headers=ALICE)
    client.post("/kv/k2", content=b"bobby's", headers=auth("bobby"))
    bob = auth("bob")
    assert client.get("/kv/k", headers=bob).status_code == 404
    assert client.get("/kv?list", headers=bob).json() == []
    client.delete("/kv/k?prefix", headers=bob)
    assert client.get("/kv/k", headers=ALICE).text == "alice's"


def test_bad_keys(client):
    too_long = client.post("/kv/" + "k" * 1025, content=b"v", headers=ALICE)
    assert too_long.status_code == 400 and "longer than 1024" in too_long.json()["error"]
    control = client.post("/kv/a%00b", content=b"v", headers=ALICE)
    assert (control.status_code, control.json()) == (400, {"error": "Key contains control characters"})


def test_needs_a_valid_token(client):
    assert client.get("/kv?list").status_code == 401
    expired = {"Authorization": f"Bearer {mint_token('alice', lifetime=-10)}"}
    assert client.get("/kv?list", headers=expired).json() == {"error": "Authentication failure"}


def test_disabled(client, monkeypatch):
    monkeypatch.setattr(get_settings(), "enable_kv", False)
    answer = client.get("/kv/k", headers=ALICE)
    assert (answer.status_code, answer.json()) == (401, {"error": "Functionality disabled"})
