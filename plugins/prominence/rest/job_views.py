"""Jobs as the API shows them: live states for jobs not yet ended, and the list without detail
served from entries rendered once.

A finished job's list entry never changes, yet building it again (decoding its spec, redacting
it, encoding it) was nearly all of a list's cost: 25 ms of CPU for 1,000 jobs, so 8 clients
listing at once waited 250 ms on one interpreter. The list reads a few small columns first,
keys each finished job's entry by them, and loads and renders only the jobs it has not rendered
before and those still in the queue, whose state is live. A key holds every column the entry
shows that could ever change, so an entry found is the one that would be built; the cache is
per process and bounded, so the api-server's workers need not agree.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy.orm import Session

from prominence.config import get_settings
from prominence.contract.sandbox import Sandbox
from prominence.contract.states import TERMINAL
from prominence.engine import live, staging
from prominence.model.views import job_view
from prominence.rest.listing import ListQuery
from prominence.store import jobs as store

RENDERED_LIMIT = 10_000
# The rows of a list loaded in one query: SQLite allows 32,766 bound values in one statement.
LOAD_CHUNK = 1_000


def present(session: Session, rows: list, *, detail: bool) -> list[dict]:
    """Views of `rows`; jobs not yet terminal get their live state from Airflow in one query."""
    pending = [row.id for row in rows if row.status not in TERMINAL]
    started = live.start_times(session, pending)
    waiting = "pending" if get_settings().use_pending_state else "idle"
    views = []
    for row in rows:
        outputs = staging.output_views(row.spec, row.uuid, Sandbox.of(row.uuid)) if detail else None
        if row.status in TERMINAL:
            views.append(job_view(row, row.status, row.start_time, detail, outputs))
        else:
            start = started.get(row.id)
            views.append(job_view(row, "running" if start else waiting, start, detail, outputs))
    return views


def encoded(view: dict[str, Any]) -> bytes:
    """One entry as FastAPI's JSONResponse would encode it, without its unset fields."""
    kept = {key: value for key, value in view.items() if value is not None}
    return json.dumps(kept, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def json_array(entries: Iterable[bytes]) -> bytes:
    return b"[" + b",".join(entries) + b"]"


class RenderedEntries:
    """Finished jobs' encoded list entries by their key, the oldest dropped first beyond `limit`
    (a dict: an LRU's bookkeeping cost more than the rest of a list's lookups)."""

    def __init__(self, limit: int = RENDERED_LIMIT) -> None:
        self.entries: dict[tuple, bytes] = {}
        self.limit = limit
        self.lock = threading.Lock()

    def get(self, key: tuple) -> bytes | None:
        return self.entries.get(key)

    def put(self, key: tuple, entry: bytes) -> None:
        with self.lock:
            self.entries[key] = entry
            while len(self.entries) > self.limit:
                del self.entries[next(iter(self.entries))]


rendered = RenderedEntries()


def entry_key(summary: Any) -> tuple | None:
    """What a finished job's entry depends on and could change (its uuid: another database's job
    may have its id), as `store.summary_columns` orders it; None while the job is in the queue.
    A plain tuple: a row compares equal to one, but through Python code."""
    key = tuple(summary)[: store.SUMMARY_KEY_LENGTH]
    return key if key[store.SUMMARY_STATUS] in TERMINAL else None


def listed(session: Session, owner: str, query: ListQuery) -> bytes:
    """The JSON array `GET /jobs` answers without `detail`, in the store's order."""
    summaries = query.filter_rows(
        store.find_jobs(
            session,
            owner,
            active=query.active,
            completed_limit=query.completed_limit,
            job_ids=query.ids,
            workflow_id=query.workflow_id,
            name=query.name,
            columns=store.summary_columns(labels=query.label is not None),
        )
    )
    entries: dict[int, bytes | None] = {}
    for summary in summaries:
        key = entry_key(summary)
        if key is not None and query.status is not None:
            continue  # the statuses asked for are those of jobs in the queue
        entries[summary.id] = rendered.get(key) if key is not None else None
    missing = [job_id for job_id, entry in entries.items() if entry is None]
    for rows in _chunks(session, owner, missing):
        for row, view in zip(rows, present(session, rows, detail=False), strict=True):
            if query.status is not None and view["status"] != query.status:
                del entries[row.id]
                continue
            entries[row.id] = encoded(view)
            if (key := entry_key([getattr(row, name) for name in store.SUMMARY])) is not None:
                rendered.put(key, entries[row.id])
    return json_array(entry for entry in entries.values() if entry is not None)


def _chunks(session: Session, owner: str, job_ids: list[int]) -> Iterator[list]:
    for start in range(0, len(job_ids), LOAD_CHUNK):
        chunk = job_ids[start : start + LOAD_CHUNK]
        yield store.find_jobs(session, owner, active=True, completed_limit=0, job_ids=chunk, detail=False)
