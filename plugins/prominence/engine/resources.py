"""The pool's capacity and what running jobs leave free of it (`GET /resources`, spec §12).

One function, so that when memory becomes a scheduled resource its figures can come from the
same place as the scheduler's."""

from __future__ import annotations

import os

from sqlalchemy.orm import Session

from prominence.config import get_settings
from prominence.engine import live
from prominence.model.job import parse_job
from prominence.store import jobs as store

GB = 1024**3


def machine_memory_gb() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // GB


def pool_resources(session: Session) -> dict:
    """`{"capacity": {"cpus", "memory"}, "free": {...}, "site"}`: cpus are the pool's slots, memory
    (GB) PROMINENCE_WORKER_MEMORY_GB or the machine's; free is that less what running jobs asked."""
    settings = get_settings()
    capacity = {"cpus": settings.worker_cpus, "memory": settings.worker_memory_gb or machine_memory_gb()}
    active = store.active_jobs(session)
    started = live.start_times(session, [row.id for row in active])
    used_cpus, used_memory = 0, 0.0
    for row in active:
        if row.id in started:
            job = parse_job(row.spec, in_workflow=row.workflow_id is not None)
            used_cpus += job.total_cpus
            used_memory += job.resources.memory_per_node * (job.resources.nodes or 1)
    free = {"cpus": max(capacity["cpus"] - used_cpus, 0), "memory": max(int(capacity["memory"] - used_memory), 0)}
    return {"capacity": capacity, "free": free, "site": settings.site}
