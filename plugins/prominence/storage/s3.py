"""The object store hook: every S3 call of PROMINENCE goes through here, by boto3.

Built from the `PROMINENCE_S3_*` settings, so the embedded server (`rclone serve s3`, started by
scripts/stack.py) and a production S3 are the same code. Presigned URLs are computed locally
(no request), so describing a job with outputs costs no round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import boto3
from boto3.exceptions import S3UploadFailedError
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from prominence.config import Settings, get_settings

# Spec §9 lifetimes (seconds).
UPLOAD_URL_SECONDS = 600
OUTPUT_GET_SECONDS = 7 * 24 * 3600
ARTIFACT_GET_SECONDS = 10 * 24 * 3600
# Beyond this the S3 protocol needs a multipart upload, which a presigned PUT cannot be.
MAX_OBJECT_BYTES = 5 * 1000**3
CHECKSUM_METADATA = "prominence_sha256"


class StorageError(Exception):
    """The object store could not be reached or refused a request."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime


class ObjectStore:
    def __init__(self, settings: Settings) -> None:
        self.bucket = settings.s3_bucket
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
                connect_timeout=10,
                read_timeout=120,
            ),
        )

    def presign_get(self, key: str, seconds: int) -> str:
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=seconds
        )

    def presign_put(self, key: str, seconds: int) -> str:
        """A URL any HTTP client can PUT the object's bytes to, without credentials or headers."""
        return self.client.generate_presigned_url(
            "put_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=seconds
        )

    def head(self, key: str) -> dict[str, Any] | None:
        """The object's size and metadata, or None when there is no such object."""
        try:
            answer = self.client.head_object(Bucket=self.bucket, Key=key)
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
                    ObjectInfo(item["Key"], item["Size"], item["LastModified"].astimezone(timezone.utc))
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
            self.client.upload_file(str(path), self.bucket, key)
        except (ClientError, BotoCoreError, S3UploadFailedError, OSError) as exc:
            raise StorageError(str(exc)) from exc

    def download(self, key: str, path: Path) -> None:
        try:
            self.client.download_file(self.bucket, key, str(path))
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(str(exc)) from exc


@lru_cache(maxsize=1)
def get_store() -> ObjectStore:
    """One client per process (boto3 clients are thread-safe; building one costs ~50 ms)."""
    return ObjectStore(get_settings())
