"""What the job and workflow routers share: owned lookups, id lists, and serving a job's logs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Response
from fastapi.responses import StreamingResponse

from prominence.auth.identity import Identity
from prominence.config import get_settings
from prominence.contract.sandbox import Sandbox
from prominence.rest.errors import ApiError, bad_request, errors

# Ids are 64-bit in every database; a larger number names nothing (and no query may overflow).
MAX_ID = 2**63 - 1
Id = Annotated[int, Path(ge=-MAX_ID, le=MAX_ID)]
LOG_TEXT = {"text/plain": {"schema": {"type": "string"}}}
LOG_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"description": "The log from `offset` on, at most PROMINENCE_MAX_LOG_READ_BYTES", "content": LOG_TEXT},
    206: {"description": "The bytes a `Range: bytes=first-last` header asked for, at most as many", "content": LOG_TEXT},
    **errors(416),
}
_BYTE_RANGE = re.compile(r"^bytes=(\d{1,19})-(\d{0,19})$")


def owned_or_400(row: Any, identity: Identity, kind: str) -> Any:
    """Spec §2: 400 when unknown, 403 when someone else's (never 404, which the CLI misreads).
    `kind`: `job` or `workflow`, as the messages name it."""
    if row is None:
        raise bad_request(f"{kind.capitalize()} does not exist")
    if row.owner != identity.username:
        raise ApiError(403, f"Not authorized to access this {kind}")
    return row


def is_own(row: Any, identity: Identity) -> bool:
    """Describe answers `[]` for what is unknown or someone else's (spec §6.3, §8)."""
    return row is not None and row.owner == identity.username


def id_list(raw: str | None, kind: str) -> list[int]:
    """The `id=1,2,3` of a bulk delete (spec §6.5, §8)."""
    if not raw:
        raise bad_request(f"a {kind} id or list of {kind} ids must be provided")
    try:
        ids = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise bad_request("ids must be integers") from None
    return [number for number in ids if abs(number) <= MAX_ID]


def integer(raw: str, what: str) -> int:
    """A query parameter that must be an integer the database can hold."""
    try:
        number = int(raw)
    except ValueError:
        raise bad_request(f"{what} must be an integer") from None
    if abs(number) > MAX_ID:
        raise bad_request(f"{what} is out of range")
    return number


def deleted_or_400(count: int, kind: str) -> dict:
    """A bulk or single delete's answer: `{}` once anything was deleted (spec §6.5, §8)."""
    if not count:
        raise bad_request(f"No such {kind}(s)")
    return {}


@dataclass(frozen=True)
class LogRead:
    """Where a log request starts (`offset`, or a `Range` header's first byte) and, for a range,
    its last byte."""

    offset: int
    first: int | None = None
    last: int | None = None


def log_read(offset: int = 0, range: Annotated[str | None, Header(description="`bytes=first-[last]`")] = None) -> LogRead:
    """A `Range` header of one byte range wins over `offset`; any other Range is ignored (RFC 9110)."""
    matched = _BYTE_RANGE.match(range or "")
    if matched is None or (matched[2] and int(matched[2]) < int(matched[1])):
        return LogRead(offset)
    return LogRead(offset, int(matched[1]), int(matched[2]) if matched[2] else None)


LogReadDep = Annotated[LogRead, Depends(log_read)]


def serve_log(job_uuid: str | None, stream: str, read: LogRead) -> Response:
    """A job's stdout or stderr from the requested byte on, streamed and at most
    PROMINENCE_MAX_LOG_READ_BYTES per request; 400 when the job wrote none (yet)."""
    view = Sandbox.of(job_uuid).log_view(stream) if job_uuid is not None else None
    if view is None:
        raise bad_request(f"{stream} does not exist")
    size, most = view.size, get_settings().max_log_read_bytes
    media = "text/plain; charset=utf-8"
    if read.first is None:
        start = min(max(read.offset, 0), size)
        end = min(size, start + most)
        return StreamingResponse(view.chunks(start, end), media_type=media, headers={"Accept-Ranges": "bytes"})
    if read.first >= size:
        raise ApiError(416, f"Range not satisfiable: the {stream} holds {size} bytes")
    end = min(size, read.first + most, size if read.last is None else read.last + 1)
    headers = {"Accept-Ranges": "bytes", "Content-Range": f"bytes {read.first}-{end - 1}/{size}"}
    return StreamingResponse(view.chunks(read.first, end), status_code=206, media_type=media, headers=headers)
