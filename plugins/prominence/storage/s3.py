"""The object store hook: every S3 call of PROMINENCE goes through here, by boto3.

Built from the `PROMINENCE_S3_*` settings, so the embedded server (`rclone serve s3`, started by
scripts/stack.py) and a production S3 are the same code. Presigned URLs are computed locally
(no request), so describing a job with outputs costs no round trip.

Transfers outlive an object store that is down for a while: botocore retries each request a few
times, and around that every call is retried with growing pauses for `s3_retry_seconds` while
the store cannot be reached or answers 5xx; only then does it raise StorageError. An upload is a
single PUT (or a multipart upload completed last), so an object either exists whole or not at
all, and success is reported only once S3 answered; a download lands under a temporary name and
is renamed when complete (s3transfer), so nothing half-written is ever taken for a file.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import boto3
from boto3.exceptions import S3UploadFailedError
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionClosedError, HTTPClientError
from botocore.exceptions import ConnectionError as EndpointUnreachable

from prominence.config import Settings, get_settings

# Spec §9 lifetimes (seconds).
UPLOAD_URL_SECONDS = 600
OUTPUT_GET_SECONDS = 7 * 24 * 3600
ARTIFACT_GET_SECONDS = 10 * 24 * 3600
# Beyond this the S3 protocol needs a multipart upload, which a presigned PUT cannot be.
MAX_OBJECT_BYTES = 5 * 1000**3
CHECKSUM_METADATA = "prominence_sha256"
FIRST_PAUSE_SECONDS = 1.0
LONGEST_PAUSE_SECONDS = 15.0

log = logging.getLogger(__name__)
T = TypeVar("T")


class StorageError(Exception):
    """The object store could not be reached or refused a request."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime


def transient(exc: BaseException) -> bool:
    """An error worth trying again: the store unreachable, a connection dropped, or a 5xx."""
    if isinstance(exc, (EndpointUnreachable, ConnectionClosedError, HTTPClientError)):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return status >= 500 or exc.response.get("Error", {}).get("Code") in ("SlowDown", "ServiceUnavailable")
    # upload_file wraps what went wrong; its cause says whether it was transient.
    if isinstance(exc, S3UploadFailedError):
        cause = exc.__cause__ or exc.__context__
        return cause is None or transient(cause)
    return False


def retrying(call: Callable[[], T], what: str, seconds: float) -> T:
    """`call()`, tried again after each transient error with doubling pauses for up to `seconds`."""
    deadline = time.monotonic() + seconds
    pause = FIRST_PAUSE_SECONDS
    while True:
        try:
            return call()
        except Exception as exc:
            if not transient(exc) or time.monotonic() + pause > deadline:
                raise
            log.warning("%s: %s; trying again in %.0f s", what, exc, pause)
        time.sleep(pause)
        pause = min(pause * 2, LONGEST_PAUSE_SECONDS)


class ObjectStore:
    def __init__(self, settings: Settings) -> None:
        self.bucket = settings.s3_bucket
        self.retry_seconds = settings.s3_retry_seconds
        self.client = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key,
            aws_secret_access_key=settings.s3_secret_key,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": settings.s3_addressing_style},
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=20,
            ),
        )

    def presign_get(self, key: str, seconds: int) -> str:
        return self.client.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=seconds)

    def presign_put(self, key: str, seconds: int) -> str:
        """A URL any HTTP client can PUT the object's bytes to, without credentials or headers."""
        return self.client.generate_presigned_url("put_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=seconds)

    def head(self, key: str) -> dict[str, Any] | None:
        """The object's size and metadata, or None when there is no such object."""
        try:
            answer = retrying(lambda: self.client.head_object(Bucket=self.bucket, Key=key), f"HEAD {key}", self.retry_seconds)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StorageError(str(exc)) from exc
        except BotoCoreError as exc:
            raise StorageError(str(exc)) from exc
        return {"size": answer["ContentLength"], "metadata": answer.get("Metadata", {})}

    def list(self, prefix: str) -> list[ObjectInfo]:
        found: list[ObjectInfo] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                found.extend(
                    ObjectInfo(item["Key"], item["Size"], item["LastModified"].astimezone(UTC))
                    for item in page.get("Contents", [])
                )
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(str(exc)) from exc
        return found

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(str(exc)) from exc

    def upload(self, path: Path, key: str) -> None:
        try:
            retrying(lambda: self.client.upload_file(str(path), self.bucket, key), f"upload of {key}", self.retry_seconds)
        except (ClientError, BotoCoreError, S3UploadFailedError, OSError) as exc:
            raise StorageError(str(exc)) from exc

    def download(self, key: str, path: Path) -> None:
        try:
            retrying(lambda: self.client.download_file(self.bucket, key, str(path)), f"download of {key}", self.retry_seconds)
        except (ClientError, BotoCoreError, OSError) as exc:
            raise StorageError(str(exc)) from exc


@lru_cache(maxsize=1)
def get_store() -> ObjectStore:
    """One client per process (boto3 clients are thread-safe; building one costs ~50 ms)."""
    return ObjectStore(get_settings())
