"""Commands and snapshots in a running job (spec §6.8, §6.9): owner-checked here, run by
engine/attach.py in the job's namespaces as the job's uid."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from prominence.contract.keys import snapshot_key
from prominence.contract.sandbox import Sandbox
from prominence.contract.states import TERMINAL
from prominence.engine.attach import NOT_RUNNING, UNABLE, AttachError, run_command, snapshot
from prominence.rest.common import Id, owned_or_400
from prominence.rest.deps import SessionFactory, SessionsDep, UserDep, exec_enabled, snapshots_enabled
from prominence.rest.errors import bad_request, errors
from prominence.storage.s3 import get_store
from prominence.store import jobs as store

router = APIRouter(tags=["jobs"])
OWNED = errors(400, 403)
TEXT = {200: {"description": "The command's stdout and stderr", "content": {"text/plain": {"schema": {"type": "string"}}}}}
SNAPSHOT_URL_SECONDS = 3600


class SnapshotUrl(BaseModel):
    url: str


def _running(sessions: SessionFactory, job_id: int, identity) -> Sandbox:
    """The sandbox of the caller's job if it has not ended; the lookup's session is closed before
    a command runs (it may take minutes: no pooled connection is held meanwhile)."""
    with sessions() as session:
        row = owned_or_400(store.get_job(session, job_id), identity, "job")
    if row.status in TERMINAL:
        raise bad_request(NOT_RUNNING)
    return Sandbox.of(row.uuid)


@router.post("/jobs/{job_id}/exec", response_class=Response, responses=TEXT | OWNED, dependencies=[Depends(exec_enabled)])
def exec_in_job(identity: UserDep, sessions: SessionsDep, job_id: Id, command: Annotated[str, Query()] = "") -> Response:
    """`command` is the argv joined with commas (as the CLI sends it); logged in `execution.commands`."""
    sandbox = _running(sessions, job_id, identity)
    argv = command.split(",") if command else []
    if not argv:
        raise bad_request(UNABLE)
    try:
        output = run_command(sandbox, argv)
    except AttachError as exc:
        raise bad_request(exc.message) from None
    with sessions() as session:
        store.record_command(session, job_id, {"time": int(time.time()), "command": " ".join(argv)})
    return Response(output, media_type="text/plain; charset=utf-8")


@router.put("/jobs/{job_id}/snapshot", responses=OWNED, dependencies=[Depends(snapshots_enabled)])
def create_snapshot(identity: UserDep, sessions: SessionsDep, job_id: Id, path: Annotated[str, Query()] = "") -> dict:
    """The gzipped tar of `path` in the job, stored as the job's one snapshot."""
    sandbox = _running(sessions, job_id, identity)
    with tempfile.TemporaryDirectory(prefix="prominence-snapshot-") as work:
        tarball = Path(work) / "snapshot.tgz"
        try:
            snapshot(sandbox, path, tarball)
        except AttachError as exc:
            raise bad_request(exc.message) from None
        get_store().upload(tarball, snapshot_key(sandbox.root.name))
    return {}


@router.get("/jobs/{job_id}/snapshot", response_model=SnapshotUrl, responses=OWNED, dependencies=[Depends(snapshots_enabled)])
def snapshot_url(identity: UserDep, sessions: SessionsDep, job_id: Id) -> dict:
    """A presigned GET of the snapshot, valid an hour."""
    sandbox = _running(sessions, job_id, identity)
    return {"url": get_store().presign_get(snapshot_key(sandbox.root.name), SNAPSHOT_URL_SECONDS)}
