"""Request bodies: read with a size cap (spec §1.3: 1 MiB, else 413) and decoded as JSON.

Routes read their body through these functions, as a parameter after the caller's identity, so
the token is checked before a byte of the body is read: FastAPI's own body parameters are read
before any dependency runs, so no route declares one.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from prominence.config import get_settings
from prominence.rest.errors import ApiError, bad_request

TOO_LARGE = "Request body too large"
# Deeper JSON than any description needs; deeper would reach Python's recursion limit.
MAX_DEPTH = 64


async def raw_body(request: Request) -> bytes:
    """The body, refused with 413 as soon as it passes the cap, whatever Content-Length says."""
    limit = get_settings().max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, TOO_LARGE)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, TOO_LARGE)
        chunks.append(chunk)
    return b"".join(chunks)


def decode_json(data: bytes) -> Any:
    """JSON whose strings could be file names and database values: no NUL characters, no
    unpaired surrogates, and at most MAX_DEPTH levels of nesting (400 otherwise)."""
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise bad_request("Request body is not valid JSON") from None
    _check(value, 0)
    return value


def _check(value: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise bad_request(f"Request body nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        _check_text(value)
    elif isinstance(value, list):
        for item in value:
            _check(item, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check(item, depth + 1)


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise bad_request("Request body contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise bad_request("Request body contains an unpaired surrogate") from None


async def json_body(request: Request) -> Any:
    return decode_json(await raw_body(request))
