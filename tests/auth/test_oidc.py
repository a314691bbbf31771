"""OIDC access tokens (spec §2 step 4) against a userinfo endpoint served on loopback."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest

from prominence.auth import identity, oidc
from prominence.auth.identity import AuthError, Identity, identify
from prominence.config import get_settings


class Provider:
    """A userinfo endpoint answering `claims` for the token `valid`, with discovery."""

    def __init__(self) -> None:
        self.claims: dict = {"sub": "u-1", "preferred_username": "alice", "groups": ["g1", "g2"]}
        self.valid = ""
        self.calls = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    self._answer(200, {"userinfo_endpoint": f"{provider.url}/me"})
                elif self.path == "/me":
                    provider.calls += 1
                    ok = self.headers.get("Authorization") == f"Bearer {provider.valid}"
                    self._answer(200 if ok else 401, provider.claims if ok else {"error": "invalid_token"})
                else:
                    self._answer(404, {})

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, **claims) -> str:
        claims = {"sub": "u-1", "exp": int(time.time()) + 600, **claims}
        self.valid = jwt.encode(claims, "a provider key that is long enough for HS256", algorithm="HS256")
        return self.valid


@pytest.fixture
def provider(monkeypatch):
    running = Provider()
    monkeypatch.setenv("PROMINENCE_OIDC_URL", running.url)
    _fresh_settings(monkeypatch)
    yield running
    running.server.shutdown()
    get_settings.cache_clear()


def _fresh_settings(monkeypatch) -> None:
    get_settings.cache_clear()
    # Airflow's auth manager is not under test here (and needs an api-server): it knows no token.
    monkeypatch.setattr(identity, "_airflow_user", _no_airflow_user)
    monkeypatch.setattr(oidc, "_cache", None)
    monkeypatch.setattr(oidc, "_discovered", {})


async def _no_airflow_user(token: str) -> None:
    return None


def who(token: str) -> Identity:
    return asyncio.run(identify(f"Bearer {token}"))


def test_a_provider_token_identifies_its_user_with_groups(provider):
    assert who(provider.token()) == Identity("alice", "g1,g2")


def test_the_userinfo_answer_is_reused_within_the_cache_time(provider):
    token = provider.token()
    who(token)
    who(token)
    assert provider.calls == 1


def test_a_token_the_provider_refuses_is_an_authentication_failure(provider):
    provider.token()
    stranger = jwt.encode({"exp": int(time.time()) + 600}, "another key that is long enough for HS256 too", algorithm="HS256")
    with pytest.raises(AuthError) as refused:
        who(stranger)
    assert refused.value.message == "Authentication failure"


def test_a_provider_that_is_down_is_reported_as_such(monkeypatch):
    provider = Provider()
    monkeypatch.setenv("PROMINENCE_OIDC_URL", provider.url)
    _fresh_settings(monkeypatch)
    token = provider.token()
    provider.server.shutdown()
    provider.server.server_close()
    with pytest.raises(AuthError) as refused:
        who(token)
    assert refused.value.message == "Unable to connect to OIDC server"
    get_settings.cache_clear()


def test_the_username_claim_is_configurable(provider, monkeypatch):
    monkeypatch.setenv("PROMINENCE_USERNAME_FROM", "sub")
    _fresh_settings(monkeypatch)
    assert who(provider.token()).username == "u-1"


def test_without_the_username_claim_the_token_is_refused(provider):
    provider.claims = {"sub": "u-1"}
    with pytest.raises(AuthError):
        who(provider.token())


def test_tokens_are_not_sent_to_a_provider_when_none_is_configured(provider, monkeypatch):
    monkeypatch.delenv("PROMINENCE_OIDC_URL")
    _fresh_settings(monkeypatch)
    with pytest.raises(AuthError):
        who(provider.token())
    assert provider.calls == 0


ENTITLED = {"vo1": ["urn:vo1:group:vo1#aai", "urn:vo1:group:vo1:role=member#aai"], "vo2": ["urn:vo2#aai"]}


@pytest.mark.parametrize(
    ("held", "groups", "expected"),
    [
        (["urn:vo1:group:vo1#aai", "urn:vo1:group:vo1:role=member#aai"], [], Identity("alice", "vo1")),
        (["urn:vo1:group:vo1#aai", "urn:vo1:group:vo1:role=member#aai"], ["g1"], Identity("alice", "g1")),
        (["urn:vo2#aai"], [], Identity("alice", "")),
        (["urn:vo1:group:vo1#aai"], ["g1"], None),
        ([], [], None),
    ],
)
def test_required_entitlements_need_all_of_one_vo(provider, monkeypatch, held, groups, expected):
    monkeypatch.setenv("PROMINENCE_REQUIRED_ENTITLEMENTS", json.dumps(ENTITLED))
    _fresh_settings(monkeypatch)
    provider.claims = {"preferred_username": "alice", "groups": groups, "edu_person_entitlements": held}
    if expected is None:
        with pytest.raises(AuthError):
            who(provider.token())
    else:
        assert who(provider.token()) == expected


def test_the_cache_keeps_at_most_its_size():
    cache = oidc.UserinfoCache(size=2)
    for name in ("a", "b", "c"):
        cache.put(name, Identity(name), 60)
    assert [cache.get(name) for name in ("a", "b", "c")] == [None, Identity("b"), Identity("c")]
    cache.put("d", Identity("d"), 0)
    assert cache.get("d") is None


def test_the_userinfo_email_is_where_notifications_go(provider):
    provider.claims["email"] = "alice@example.org"
    assert who(provider.token()).email == "alice@example.org"
    provider.claims["email"] = "alice@example.org\r\nBcc: eve@example.org"
    assert who(provider.token(jti="another token")).email is None
