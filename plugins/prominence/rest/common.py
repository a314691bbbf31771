"""What the job and workflow routers share: owned lookups, id lists, and serving a job's logs."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from prominence.auth.identity import Identity
from prominence.contract.sandbox import Sandbox
from prominence.rest.errors import ApiError, bad_request

LOG_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"description": "The log from `offset` on", "content": {"text/plain": {}}}
}


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
        return [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise bad_request("ids must be integers") from None


def deleted_or_400(count: int, kind: str) -> dict:
    """A bulk or single delete's answer: `{}` once anything was deleted (spec §6.5, §8)."""
    if not count:
        raise bad_request(f"No such {kind}(s)")
    return {}


def serve_log(job_uuid: str | None, stream: str, offset: int) -> Response:
    """A job's stdout or stderr from byte `offset`, or 400 when the job wrote none (yet)."""
    content = Sandbox.of(job_uuid).read_log(stream, offset) if job_uuid is not None else None
    if content is None:
        raise bad_request(f"{stream} does not exist")
    return Response(content, media_type="text/plain; charset=utf-8")
