"""The key-value store (spec §11): small values per user, reachable from jobs with their token.

Values are bytes in, bytes out. The CLI reads them as text, so a value that is UTF-8 is served
as `text/plain`; anything else as `application/octet-stream`, unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from prominence.auth.identity import Identity
from prominence.config import get_settings
from prominence.rest.body import raw_body
from prominence.rest.deps import SessionsDep, UserDep, kv_enabled
from prominence.rest.errors import UNROUTABLE, ApiError, bad_request, errors
from prominence.store import kv as store

log = logging.getLogger(__name__)
# Reserved for the MPI launcher in the original; never listed.
INTERNAL = "_internal_"
KEY_NOT_SPECIFIED = "Key not specified"

router = APIRouter(tags=["kv"], dependencies=[Depends(kv_enabled)], responses=errors(400, 401))

ListFlag = Annotated[
    str | None, Query(alias="list", description="Presence flag: list the keys under the path instead of reading it")
]
ValuesFlag = Annotated[str | None, Query(description="Presence flag, with `list`: each key with its value")]
RAW_VALUE = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
VALUE_RESPONSE = {
    200: {"description": "The value", "content": {"text/plain": {}, "application/octet-stream": {}}},
    **errors(404),
}


def kv_session(factory: SessionsDep) -> Iterator[Session]:
    """The route's session; database failures, its commit's included, reach the client as
    spec §11's 400, not a 500."""
    try:
        with factory() as session:
            yield session
    except OperationalError as exc:
        log.warning("Key-value store unavailable: %s", exc)
        raise bad_request("Unable to access key-value store") from None


KvSession = Annotated[Session, Depends(kv_session, scope="function")]


def key_of(raw: str) -> str:
    """The normalised key, or 400: missing, too long for the table, or with control characters."""
    key = store.normalise(raw)
    if not key:
        raise bad_request(KEY_NOT_SPECIFIED)
    if len(key) > store.MAX_KEY_CHARS:
        raise bad_request(f"Key longer than {store.MAX_KEY_CHARS} characters")
    if any(ord(char) < 32 or ord(char) == 127 for char in key):
        raise bad_request("Key contains control characters")
    return key


@router.get("/kv", response_model=list[str] | list[dict[str, str]])
def list_keys(identity: UserDep, session: KvSession, listing: ListFlag = None, values: ValuesFlag = None) -> list:
    if listing is None:
        raise bad_request(KEY_NOT_SPECIFIED)
    return _list(session, identity, "", values is not None)


@router.get("/kv/{key:path}", response_model=list[str] | list[dict[str, str]], responses=VALUE_RESPONSE)
def get_value(identity: UserDep, session: KvSession, key: str, listing: ListFlag = None, values: ValuesFlag = None):
    if listing is not None:
        return _list(session, identity, store.normalise(key), values is not None)
    value = store.get(session, identity.username, key_of(key))
    if value is None:
        raise ApiError(404, "No such key")
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return Response(value, media_type="application/octet-stream")
    return Response(value, media_type="text/plain; charset=utf-8")


def _list(session: Session, identity: Identity, prefix: str, with_values: bool) -> list:
    """Keys shown with a leading `/` and without the owner; values decoded as text (binary
    values are read one at a time, bytes unchanged)."""
    found = [(f"/{path}", value) for path, value in store.find(session, identity.username, prefix)]
    if with_values:
        return [{key: value.decode("utf-8", "replace")} for key, value in found if INTERNAL not in key]
    return [key for key, _ in found if INTERNAL not in key]


@router.post("/kv/{key:path}", status_code=201, openapi_extra=RAW_VALUE, responses=errors(413) | UNROUTABLE)
def set_value(
    identity: UserDep,
    session: KvSession,
    key: str,
    value: Annotated[bytes, Depends(raw_body)],
    prev: Annotated[str | None, Query(description="Compare-and-set: replace only if the key holds this")] = None,
) -> dict:
    path = key_of(key)
    if not value:
        raise bad_request("No value provided")
    if len(value) > get_settings().kv_max_bytes:
        raise bad_request("Content of value too large")
    if prev is None:
        store.put(session, identity.username, path, value)
    elif not store.replace(session, identity.username, path, prev.encode("utf-8"), value):
        raise bad_request("Atomic replacement not successful")
    return {}


@router.delete("/kv/{key:path}", responses=UNROUTABLE)
def delete_keys(
    identity: UserDep,
    session: KvSession,
    key: str,
    prefix: Annotated[str | None, Query(description="Presence flag: delete every key starting with the path")] = None,
) -> dict:
    store.remove(session, identity.username, key_of(key), prefix=prefix is not None)
    return {}
