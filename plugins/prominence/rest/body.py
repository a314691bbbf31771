"""Request bodies: read with a size cap (spec §1.3: 1 MiB, else 413) and decoded as JSON."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from prominence.config import get_settings
from prominence.rest.errors import ApiError

TOO_LARGE = "Request body too large"


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


async def json_body(request: Request) -> Any:
    data = await raw_body(request)
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError(400, "Request body is not valid JSON") from None
