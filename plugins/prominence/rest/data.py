"""The data resource (spec §10): each user's uploaded objects and the group areas, on S3.

Bytes never pass through the API: uploads and downloads go to presigned URLs of the object
store. Upload URLs are presigned PUTs for every store, with or without a checksum: the
official CLI switches on the presence of `fields` and handles both, a PUT works on any S3
(the embedded server refuses form POSTs), and the checksum is kept in our database instead.
"""

from __future__ import annotations

import json
import logging
import re
from email.utils import format_datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from prominence.auth.identity import Identity
from prominence.config import get_settings
from prominence.rest.body import raw_body
from prominence.rest.deps import current_identity
from prominence.rest.errors import ApiError, bad_request
from prominence.contract import keys as layout
from prominence.storage.s3 import UPLOAD_URL_SECONDS, StorageError, get_store
from prominence.store import uploads
from prominence.store.db import session_scope

log = logging.getLogger(__name__)
DISABLED = "Functionality disabled"
LIST_FAILED = "Unable to list objects due to storage system problems"
OUTPUT_URL_SECONDS = 7200
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def data_enabled() -> None:
    if not get_settings().enable_data:
        raise ApiError(401, DISABLED)


router = APIRouter(tags=["data"], dependencies=[Depends(data_enabled)])
UserDep = Annotated[Identity, Depends(current_identity)]


class DataObject(BaseModel):
    name: str
    size: int
    lastModified: str


class UploadUrl(BaseModel):
    url: str


def key_or_error(name: str, identity: Identity, forbidden: str) -> str:
    """The key of object `name` for the caller: 400 for an unsafe name, 403 outside their areas."""
    try:
        return layout.upload_key(name, identity.username, identity.group_list)
    except layout.InvalidName as exc:
        raise bad_request(str(exc)) from None
    except layout.NotAuthorized:
        raise ApiError(403, forbidden) from None


def _listing(prefix: str, strip: str) -> list[dict]:
    try:
        found = get_store().list(prefix)
    except StorageError:
        raise bad_request(LIST_FAILED) from None
    return [
        {"name": item.key.removeprefix(strip), "size": item.size, "lastModified": format_datetime(item.last_modified, usegmt=True)}
        for item in found
    ]


@router.get("/data", response_model=list[DataObject])
def list_own(identity: UserDep) -> list[dict]:
    prefix = layout.private_prefix(identity.username)
    return _listing(prefix, prefix)


@router.get("/data/{path:path}", response_model=list[DataObject])
def list_group(identity: UserDep, path: str) -> list[dict]:
    try:
        prefix = layout.group_prefix(path, identity.group_list)
    except layout.InvalidName as exc:
        raise bad_request(str(exc)) from None
    except layout.NotAuthorized:
        raise ApiError(403, "Not authorized to access this path") from None
    return _listing(prefix, layout.UPLOADS)


def _json_object(data: bytes) -> dict[str, Any]:
    """An optional JSON object body: `{}` when empty (query parameters may say it all)."""
    if not data.strip():
        return {}
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise bad_request("Request body is not valid JSON") from None
    return body if isinstance(body, dict) else {}


def _upload_request(data: bytes, name: str | None, checksum: str | None) -> tuple[str | None, str | None]:
    """Name and checksum from the query (`name`, `checksum`) or a JSON body (`filename`, `checksum`)."""
    body = _json_object(data)
    name = name or body.get("filename")
    checksum = checksum or body.get("checksum")
    if name is not None and not isinstance(name, str):
        raise bad_request("An object name must be specified")
    if checksum is not None and not (isinstance(checksum, str) and _SHA256.match(checksum)):
        raise bad_request("The checksum must be a SHA-256 hex digest")
    return name, checksum


@router.post("/data/upload", status_code=201, response_model=UploadUrl)
@router.post("/data", status_code=201, response_model=UploadUrl, include_in_schema=False)
def upload_url(
    identity: UserDep,
    data: Annotated[bytes, Depends(raw_body)],
    name: Annotated[str | None, Query()] = None,
    checksum: Annotated[str | None, Query()] = None,
) -> dict:
    """A presigned PUT URL (10 minutes) for the object; the client sends the bytes there."""
    name, checksum = _upload_request(data, name, checksum)
    if not name:
        raise bad_request("An object name must be specified")
    key = key_or_error(name, identity, "Not authorized to access upload with this path")
    with session_scope() as session:
        if checksum:
            uploads.record_checksum(session, key, checksum.lower())
        else:
            uploads.forget(session, key)
    return {"url": get_store().presign_put(key, UPLOAD_URL_SECONDS)}


@router.post("/data/output", status_code=201, response_model=UploadUrl)
def output_url(identity: UserDep, data: Annotated[bytes, Depends(raw_body)]) -> dict:
    """A fresh PUT URL (2 hours) for an output of the calling job (job tokens only, spec §12)."""
    if identity.job is None:
        raise bad_request("A JWT token is required")
    name = _json_object(data).get("name")
    if not name or not isinstance(name, str):
        raise bad_request("Name not specified")
    try:
        key = layout.scratch_key(identity.job, name)
    except layout.InvalidName as exc:
        raise bad_request(str(exc)) from None
    return {"url": get_store().presign_put(key, OUTPUT_URL_SECONDS)}


@router.delete("/data/{obj:path}", status_code=204, response_class=Response)
def delete_object(identity: UserDep, obj: str) -> Response:
    """Always 204 once the name is allowed, even when there was nothing to delete (spec §10)."""
    key = key_or_error(obj, identity, "Not authorized to access this object")
    try:
        get_store().delete(key)
    except StorageError as exc:
        log.warning("Deleting %s failed: %s", key, exc)
    with session_scope() as session:
        uploads.forget(session, key)
    return Response(status_code=204)
