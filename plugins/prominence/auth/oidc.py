"""Who holds an OIDC access token (spec §2 step 4): the provider's userinfo endpoint says.

Each answer is reused for a short while (keyed by a hash of the token, never the token itself),
so a client listing its jobs every few seconds costs the provider one call a minute.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from typing import Any

import httpx

from prominence.auth.caller import AuthError, Identity, email_of
from prominence.config import Settings, get_settings

OIDC_UNREACHABLE = "Unable to connect to OIDC server"
ENTITLEMENTS_CLAIM = "edu_person_entitlements"


class UserinfoCache:
    """Identities by token hash, each until its deadline; the oldest go first beyond `size`."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, tuple[float, Identity]] = OrderedDict()

    @staticmethod
    def key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def get(self, token: str) -> Identity | None:
        entry = self._entries.get(self.key(token))
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def put(self, token: str, identity: Identity, seconds: float) -> None:
        key = self.key(token)
        self._entries.pop(key, None)
        self._entries[key] = (time.monotonic() + seconds, identity)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


_cache: UserinfoCache | None = None
_discovered: dict[str, str] = {}


def _userinfo_cache() -> UserinfoCache:
    global _cache
    if _cache is None:
        _cache = UserinfoCache(get_settings().oidc_cache_size)
    return _cache


async def oidc_identity(token: str, expires_at: float) -> Identity:
    """The identity behind `token`, an access token of the configured provider; AuthError if
    the provider refuses it or cannot be reached, or its claims do not make a PROMINENCE user."""
    settings = get_settings()
    cache = _userinfo_cache()
    identity = cache.get(token)
    if identity is not None:
        return identity
    try:
        async with httpx.AsyncClient(timeout=settings.oidc_timeout) as client:
            url = await _userinfo_url(client, settings)
            response = await client.get(url, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError:
        raise AuthError(OIDC_UNREACHABLE) from None
    if response.status_code != 200:
        raise AuthError()
    try:
        claims = response.json()
    except ValueError:
        raise AuthError() from None
    identity = identity_from_claims(claims if isinstance(claims, dict) else {}, settings)
    cache.put(token, identity, min(settings.oidc_cache_seconds, expires_at - time.time()))
    return identity


async def _userinfo_url(client: httpx.AsyncClient, settings: Settings) -> str:
    """The configured userinfo URL, else the one the provider's discovery document names, else
    <issuer>/userinfo; discovered once per process."""
    if settings.oidc_userinfo_url:
        return settings.oidc_userinfo_url
    issuer = (settings.oidc_url or "").rstrip("/")
    if issuer not in _discovered:
        response = await client.get(f"{issuer}/.well-known/openid-configuration")
        try:
            endpoint = response.json().get("userinfo_endpoint") if response.status_code == 200 else None
        except ValueError:
            endpoint = None
        _discovered[issuer] = endpoint if isinstance(endpoint, str) and endpoint else f"{issuer}/userinfo"
    return _discovered[issuer]


def identity_from_claims(claims: dict[str, Any], settings: Settings) -> Identity:
    """Spec §2 step 4: the username claim, the groups claim (a list joined with commas), and the
    entitlements of at least one VO of REQUIRED_ENTITLEMENTS when that is configured."""
    username = claims.get(settings.username_from)
    if not isinstance(username, str) or not username:
        raise AuthError()
    found = claims.get(settings.oidc_groups_claim) or []
    groups = ",".join(str(g) for g in found) if isinstance(found, list) else str(found)
    if settings.required_entitlements:
        held = set(claims.get(ENTITLEMENTS_CLAIM) or [])
        vo = next((vo for vo, needed in settings.required_entitlements.items() if set(needed) <= held), None)
        if vo is None:
            raise AuthError()
        if not groups and any("role=member" in entitlement for entitlement in settings.required_entitlements[vo]):
            groups = vo
    return Identity(username, groups, email=email_of(claims.get("email")))
