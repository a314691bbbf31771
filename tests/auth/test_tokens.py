"""Tokens are never signed or accepted without a configured key, and the api-server will not start."""

import asyncio

import pytest

from prominence.auth import identity, tokens
from prominence.config import get_settings


@pytest.fixture
def no_secret(monkeypatch):
    monkeypatch.delenv("PROMINENCE_JOB_TOKEN_SECRET", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_token_signed_with_the_key_is_accepted():
    claims = tokens.verify_token(tokens.mint_token("alice", "g1"))
    assert (claims["username"], claims["groups"]) == ("alice", "g1")


def test_without_a_key_nothing_is_signed_or_accepted(no_secret):
    with pytest.raises(tokens.MissingSecret):
        tokens.mint_token("alice")
    with pytest.raises(tokens.MissingSecret):
        tokens.verify_token("a.b.c")


def test_the_api_server_refuses_to_mount_the_api_without_a_key(no_secret):
    # Imported after the fixture removed the key, which the plugin checks when it builds the app.
    from prominence import plugin

    plugin._rest_apps.cache_clear()
    with pytest.raises(tokens.MissingSecret):
        _ = plugin.ProminencePlugin.fastapi_apps


def test_the_email_a_token_carries_is_the_callers(monkeypatch):
    async def no_airflow_user(token):
        return None

    monkeypatch.setattr(identity, "_airflow_user", no_airflow_user)
    with_email = asyncio.run(identity.identify("Bearer " + tokens.mint_token("alice", email="alice@example.org")))
    without = asyncio.run(identity.identify("Bearer " + tokens.mint_token("alice")))
    assert (with_email.email, without.email) == ("alice@example.org", None)
