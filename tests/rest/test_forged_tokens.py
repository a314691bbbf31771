"""Forged bearers get a 401 from every route, with the app's real token check: a token signed
with another key, one with `alg: none`, an expired one, one without the claims ours carry. And a
group's listing never reaches a user whose name starts with the group's name."""

from __future__ import annotations

import time

import jwt
import pytest

from prominence.auth.tokens import mint_token, signing_secret
from prominence.config import get_settings
from prominence.storage.s3 import get_store

NOW = int(time.time())
FORGED = {
    "another key": jwt.encode({"username": "alice", "groups": "", "exp": NOW + 3600}, "not-the-stack-key", algorithm="HS256"),
    "alg none": jwt.encode({"username": "alice", "groups": "", "exp": NOW + 3600}, None, algorithm="none"),
    "expired": jwt.encode({"username": "alice", "groups": "", "exp": NOW - 1}, signing_secret(), algorithm="HS256"),
    "no expiry": jwt.encode({"username": "alice", "groups": ""}, signing_secret(), algorithm="HS256"),
    "no username": jwt.encode({"groups": "", "exp": NOW + 3600}, signing_secret(), algorithm="HS256"),
    "not a JWT": "alice",
}


@pytest.mark.parametrize("forgery", sorted(FORGED))
@pytest.mark.parametrize(("method", "path"), [("GET", "/jobs"), ("GET", "/kv"), ("POST", "/jobs"), ("GET", "/data")])
def test_forged_tokens_are_401(client, forgery, method, path):
    response = client.request(method, path, headers={"Authorization": f"Bearer {FORGED[forgery]}"})
    assert (response.status_code, response.json()) == (401, {"error": "Authentication failure"})


def test_the_stacks_own_token_is_accepted(client):
    response = client.get("/jobs", headers={"Authorization": f"Bearer {mint_token('alice')}"})
    assert (response.status_code, response.json()) == (200, [])


def test_a_group_listing_matches_whole_path_segments(client, s3):
    s3()
    get_store().client.put_object(Bucket=get_settings().s3_bucket, Key="uploads/alice/secret.txt", Body=b"alice's")
    get_store().client.put_object(Bucket=get_settings().s3_bucket, Key="uploads/a/shared.txt", Body=b"group a's")
    bob = {"Authorization": f"Bearer {mint_token('bob', 'a')}"}
    assert [item["name"] for item in client.get("/data/a", headers=bob).json()] == ["a/shared.txt"]
    refused = client.get("/data/alice", headers=bob)
    assert (refused.status_code, refused.json()) == (403, {"error": "Not authorized to access this path"})
