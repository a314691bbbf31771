"""What a job moves in and out, decided at submission by the api-server (spec §6.1, §13.3, §13.7).

Inputs are written into the sandbox's home right away: they came with the request, so no task
is needed for them. Artifacts and outputs become a staging plan in the sandbox (sources and
object keys resolved here, where the caller's identity is known), which the stage-in and
stage-out tasks carry out with the store's credentials; the run's conf says whether those
tasks run at all. Describe turns the stage-out report into presigned download URLs.
"""

from __future__ import annotations

import posixpath
from typing import Any
from urllib.parse import unquote, urlsplit

from prominence.auth.identity import Identity
from prominence.contract import keys
from prominence.contract.images import UPLOAD, image_kind
from prominence.contract.keys import OUTPUT_KINDS, output_key
from prominence.contract.sandbox import Sandbox
from prominence.model.errors import SpecError
from prominence.storage.s3 import OUTPUT_GET_SECONDS, StorageError, get_store
from prominence.store import uploads
from prominence.store.db import session_scope


def is_url(artifact: str) -> bool:
    return urlsplit(artifact).scheme in ("http", "https")


def artifact_name(artifact: str) -> str:
    """The file an artifact becomes in the job's home: the basename of its URL path or name."""
    path = unquote(urlsplit(artifact).path) if is_url(artifact) else artifact
    return posixpath.basename(path)


def plan(identity: Identity, job: dict[str, Any]) -> dict[str, Any]:
    """The staging plan of a stored job description; SpecError (a 400) for an artifact or an
    uploaded image that names no object of the caller's, or any name that could leave its area."""
    artifacts = []
    for artifact in job.get("artifacts", []):
        url = artifact["url"]
        name = artifact_name(url)
        if name in ("", ".", "..") or "\x00" in name:
            raise SpecError(f"Invalid artifact {url}")
        entry: dict[str, Any] = {"name": name, "executable": bool(artifact.get("executable"))}
        if artifact.get("mountpoint"):
            entry["mountpoint"] = artifact["mountpoint"]
        if is_url(url):
            entry["url"] = url
        elif "://" in url:
            raise SpecError(f"Invalid artifact {url}")
        else:
            entry["key"] = _uploaded(url, identity, "Artifact")
        artifacts.append(entry)
    outputs = {kind: [{"name": name} for name in job.get(kind, [])] for kind in OUTPUT_KINDS}
    return {"artifacts": artifacts, "images": _images(identity, job), **outputs}


def _images(identity: Identity, job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The object key of each uploaded image the tasks name, with the checksum its upload
    declared (spec §9: the task's `imageSha256` unless it has one)."""
    images: dict[str, dict[str, Any]] = {}
    for task in job.get("tasks", []):
        image = task["image"]
        if image_kind(image) == UPLOAD and image not in images:
            key = _uploaded(image, identity, "Image")
            with session_scope() as session:
                images[image] = {"key": key, "sha256": uploads.checksum(session, key)}
    return images


def _uploaded(name: str, identity: Identity, kind: str) -> str:
    """The key of the caller's uploaded object `name`; SpecError when there is none."""
    try:
        key = keys.upload_key(name, identity.username, identity.group_list)
    except (keys.InvalidName, keys.NotAuthorized):
        raise SpecError(f"{kind} {name} does not exist") from None
    try:
        found = get_store().head(key)
    except StorageError:
        raise SpecError(f"Unable to check {kind.lower()} {name} in object storage") from None
    if found is None:
        raise SpecError(f"{kind} {name} does not exist")
    return key


def prepare(sandbox: Sandbox, job: dict[str, Any], staging: dict[str, Any]) -> None:
    sandbox.write_inputs(job.get("inputs", []))
    sandbox.write_json(sandbox.staging_file, staging)


def output_views(job: dict[str, Any], job_uuid: str, sandbox: Sandbox) -> dict[str, list[dict[str, Any]]]:
    """`outputFiles` / `outputDirs` of describe (spec §4.2): a 7-day GET URL and the size for
    each output whose upload succeeded, `url: ""` for the others."""
    report = sandbox.read_json(sandbox.stage_report_file("stageout")) or {}
    done = {
        (kind, entry["name"]): entry
        for kind in ("files", "directories")
        for entry in report.get(kind, [])
        if entry.get("status") == "success"
    }
    views: dict[str, list[dict[str, Any]]] = {}
    for wire, directory in OUTPUT_KINDS.items():
        if wire not in job:
            continue
        kind = "directories" if directory else "files"
        views[wire] = []
        for name in job[wire]:
            entry = done.get((kind, name))
            if entry is None:
                views[wire].append({"name": name, "url": ""})
                continue
            url = get_store().presign_get(output_key(job_uuid, name, directory), OUTPUT_GET_SECONDS)
            views[wire].append({"name": name, "url": url, "size": entry.get("size", 0)})
    return views
