"""What a container task tells its runtime about the task's image besides its name (spec §3.3,
§13.5): how an http(s) URL or an uploaded image is fetched (with stage-in's checks: no address
of the stack's own network, at most the job's disk), the task's credential and its checksum."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from prominence.contract.images import UPLOAD, URL, image_kind
from prominence.contract.sandbox import Sandbox
from prominence.operators.staging import disk_bytes
from prominence.runtimes import ImagePullError
from prominence.runtimes.spec import ImageSource
from prominence.storage.fetch import FetchError, download_url


def image_source(sandbox: Sandbox, job: dict[str, Any], task: dict[str, Any]) -> ImageSource:
    """The task's source; an uploaded image's object key and upload checksum come from the
    staging plan the api-server wrote at submission, where the owner's area was known."""
    image = task["image"]
    credential = task.get("imagePullCredential") or {}
    sha256 = task.get("imageSha256")
    fetch = scope = None
    if image_kind(image) == URL:
        fetch = partial(_download, image, disk_bytes(job))
    elif image_kind(image) == UPLOAD:
        entry = ((sandbox.read_json(sandbox.staging_file) or {}).get("images") or {}).get(image) or {}
        fetch = partial(_get_object, image, entry.get("key"))
        sha256 = sha256 or entry.get("sha256")
        scope = entry.get("key")
    return ImageSource(
        fetch=fetch, username=credential.get("username"), password=credential.get("token"), sha256=sha256, scope=scope
    )


def _download(url: str, max_bytes: int, dest: Path) -> None:
    try:
        download_url(url, dest, max_bytes)
    except FetchError as exc:
        raise ImagePullError(f"image download failed: {exc}") from exc


def _get_object(image: str, key: str | None, dest: Path) -> None:
    # boto3 loads only where used (operators/staging.py, _object_store).
    from prominence.storage.s3 import StorageError, get_store

    if key is None:
        raise ImagePullError(f"uploaded image {image} was not resolved at submission")
    try:
        get_store().download(key, dest)
    except StorageError as exc:
        raise ImagePullError(f"uploaded image {image} could not be fetched: {exc}") from exc
