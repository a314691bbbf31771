"""The data resource (spec §10): each user's uploaded objects and the group areas, on S3.

Bytes never pass through the API: uploads and downloads go to presigned URLs of the object
store. Upload URLs are presigned PUTs for every store, with or without a checksum: the
official CLI switches on the presence of `fields` and handles both, a PUT works on any S3
(the embedded server refuses form POSTs), and the checksum is kept in our database instead.
"""

from __future__ import annotations

import logging
import re
from email.utils import format_datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from prominence.config import get_settings
from prominence.contract import keys as layout
from prominence.model.errors import QUOTA_DATA_BYTES
from prominence.rest.body import decode_json, raw_body
from prominence.rest.deps import SessionDep, UserDep, data_enabled
from prominence.rest.errors import UNROUTABLE, bad_request, errors
from prominence.storage.s3 import UPLOAD_URL_SECONDS, StorageError, get_store
from prominence.store import uploads

log = logging.getLogger(__name__)
OUTPUT_URL_SECONDS = 7200
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")

router = APIRouter(tags=["data"], dependencies=[Depends(data_enabled)], responses=errors(400, 401))
# Unsafe names answer 400 and group areas not the caller's 403, mapped in rest/errors.py.
GROUP_AREAS = errors(403) | UNROUTABLE


class DataObject(BaseModel):
    name: str
    size: int
    lastModified: str


class UploadUrl(BaseModel):
    url: str


def _listing(prefix: str, strip: str) -> list[dict]:
    return [
        {
            "name": item.key.removeprefix(strip),
            "size": item.size,
            "lastModified": format_datetime(item.last_modified, usegmt=True),
        }
        for item in get_store().list(prefix)
    ]


@router.get("/data", response_model=list[DataObject])
def list_own(identity: UserDep) -> list[dict]:
    prefix = layout.private_prefix(identity.username)
    return _listing(prefix, prefix)


@router.get("/data/{path:path}", response_model=list[DataObject], responses=GROUP_AREAS)
def list_group(identity: UserDep, path: str) -> list[dict]:
    return _listing(layout.group_prefix(path, identity.group_list), layout.UPLOADS)


def _json_object(data: bytes) -> dict[str, Any]:
    """An optional JSON object body: `{}` when empty (query parameters may say it all)."""
    if not data.strip():
        return {}
    body = decode_json(data)
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


@router.post("/data/upload", status_code=201, response_model=UploadUrl, responses=GROUP_AREAS | errors(413))
@router.post("/data", status_code=201, response_model=UploadUrl, include_in_schema=False)
def upload_url(
    identity: UserDep,
    session: SessionDep,
    data: Annotated[bytes, Depends(raw_body)],
    name: Annotated[str | None, Query()] = None,
    checksum: Annotated[str | None, Query()] = None,
) -> dict:
    """A presigned PUT URL (10 minutes) for the object; the client sends the bytes there."""
    name, checksum = _upload_request(data, name, checksum)
    if not name:
        raise bad_request("An object name must be specified")
    key = layout.upload_key(name, identity.username, identity.group_list)
    _check_quota(identity.username)
    if checksum:
        uploads.record_checksum(session, key, checksum.lower())
    else:
        uploads.forget(session, key)
    return {"url": get_store().presign_put(key, UPLOAD_URL_SECONDS)}


def _check_quota(username: str) -> None:
    """A 400 once the user's own objects take their quota (PROMINENCE_QUOTA_DATA_BYTES): the size
    of an upload is not known before it happens, so the upload that crosses the quota is the last."""
    quota = get_settings().quota_data_bytes
    if quota > 0:
        used = sum(item.size for item in get_store().list(layout.private_prefix(username)))
        if used >= quota:
            raise bad_request(QUOTA_DATA_BYTES.format(used=used, quota=quota))


@router.post("/data/output", status_code=201, response_model=UploadUrl, responses=errors(413))
def output_url(identity: UserDep, data: Annotated[bytes, Depends(raw_body)]) -> dict:
    """A fresh PUT URL (2 hours) for an output of the calling job (job tokens only)."""
    if identity.job is None:
        raise bad_request("A JWT token is required")
    name = _json_object(data).get("name")
    if not name or not isinstance(name, str):
        raise bad_request("Name not specified")
    return {"url": get_store().presign_put(layout.scratch_key(identity.job, name), OUTPUT_URL_SECONDS)}


@router.delete("/data/{obj:path}", status_code=204, response_class=Response, responses=GROUP_AREAS)
def delete_object(identity: UserDep, session: SessionDep, obj: str) -> Response:
    """Always 204 once the name is allowed, even when there was nothing to delete."""
    key = layout.upload_key(obj, identity.username, identity.group_list)
    try:
        get_store().delete(key)
    except StorageError as exc:
        log.warning("Deleting %s failed: %s", key, exc)
    uploads.forget(session, key)
    return Response(status_code=204)
