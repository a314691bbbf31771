"""What the pool holds and what a job is given from it (docs/scheduling.md).

The pool is one machine's worth of cpus (the `prominence` pool's slots, PROMINENCE_WORKER_CPUS),
memory (PROMINENCE_WORKER_MEMORY_GB) and the disk of the filesystem holding the sandboxes. A job
holds what it was given from the moment its run is created until that run ends; `pool_usage`
is the one place these figures are computed (for admission and for `GET /resources`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from prominence.config import get_settings
from prominence.contract.tasks import job_conf
from prominence.engine import runs
from prominence.store import jobs as store

GB = 1e9
# Run states that hold what their job was given.
ACTIVE_RUN = ("queued", "running")


@dataclass(frozen=True)
class Grant:
    """What one job is given: cores, GB of memory (the container's limit) and GB of disk."""

    cpus: int
    memory: float
    disk: int

    def provisioned(self, nodes: int = 1) -> dict[str, Any]:
        """`execution.provisionedResources` (spec §5.3)."""
        return {"cpus": self.cpus, "memory": self.memory, "disk": self.disk, "nodes": nodes}


@dataclass(frozen=True)
class PoolUsage:
    """Totals and what is free now; disk is None where the filesystem cannot tell."""

    cpus_total: int
    cpus_free: int
    memory_total: float
    memory_free: float
    disk_total: float | None
    disk_free: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "capacity": {"cpus": self.cpus_total, "memory": self.memory_total, "disk": self.disk_total},
            "free": {"cpus": self.cpus_free, "memory": self.memory_free, "disk": self.disk_free},
        }


def _disk_gb() -> tuple[float | None, float | None]:
    """Size and free space (GB) of the filesystem of the sandboxes, as statvfs reports them."""
    try:
        stat = os.statvfs(get_settings().sandboxes)
    except OSError:
        return None, None
    return stat.f_blocks * stat.f_frsize / GB, stat.f_bavail * stat.f_frsize / GB


def usage_of(held: Iterable[Grant], cpus_total: int) -> PoolUsage:
    """The pool's figures with `held` (the grants of the jobs whose runs are active) taken off."""
    settings = get_settings()
    grants = list(held)
    cpus = sum(grant.cpus for grant in grants)
    memory = sum(grant.memory for grant in grants)
    disk_total, disk_free = _disk_gb()
    return PoolUsage(
        cpus_total=cpus_total,
        cpus_free=max(cpus_total - cpus, 0),
        memory_total=round(settings.worker_memory_gb, 3),
        memory_free=round(max(settings.worker_memory_gb - memory, 0.0), 3),
        disk_total=None if disk_total is None else round(disk_total, 3),
        disk_free=None if disk_free is None else round(disk_free, 3),
    )


def grant_of(conf: Mapping[str, Any]) -> Grant:
    """The grant recorded in a run's conf at its creation (engine/dispatch.py)."""
    given = conf.get("provisioned") or {}
    return Grant(int(conf.get("cpus", 1)), float(given.get("memory") or 0), int(given.get("disk") or 0))


def _core_choices(resources: Mapping[str, Any], most: int) -> Iterable[int]:
    """Core counts up to `most` the job accepts, preferred first (spec §3.2: the larger value)."""
    bounds = resources.get("totalCpusRange") or resources.get("cpusRange")
    if bounds:
        return range(min(bounds[1], most), bounds[0] - 1, -1)
    if resources.get("cpusOptions"):
        return [cpus for cpus in sorted(set(resources["cpusOptions"]), reverse=True) if cpus <= most]
    cpus = int(resources.get("cpus") or 1)
    return [cpus] if cpus <= most else []


def min_cpus(resources: Mapping[str, Any]) -> int:
    """The fewest cores the job accepts."""
    bounds = resources.get("totalCpusRange") or resources.get("cpusRange") or resources.get("cpusOptions")
    return min(bounds) if bounds else int(resources.get("cpus") or 1)


def _memory(resources: Mapping[str, Any], cpus: int) -> float:
    """GB: `memory`, or `memoryPerCpu` times the cores given."""
    if resources.get("memory") is not None:
        return float(resources["memory"])
    return float(resources.get("memoryPerCpu") or 0) * cpus


def _grant(resources: Mapping[str, Any], cpus: int) -> Grant:
    disk = int(resources.get("disk") or get_settings().default_disk_gb)
    return Grant(cpus, _memory(resources, cpus), disk)


def never_fits(resources: Mapping[str, Any], pool: PoolUsage) -> bool:
    """Even the smallest choice exceeds what the whole pool holds (`No matching resources`)."""
    smallest = _grant(resources, min_cpus(resources))
    too_much_disk = pool.disk_total is not None and smallest.disk > pool.disk_total
    # A job runs on one worker: in Celery mode the pool holds several workers' cores.
    too_many_cpus = smallest.cpus > min(pool.cpus_total, get_settings().worker_cpus)
    return too_many_cpus or smallest.memory > pool.memory_total or too_much_disk


def fit(resources: Mapping[str, Any], pool: PoolUsage) -> Grant | None:
    """The largest choice that fits what is free now, or None: the job waits."""
    for cpus in _core_choices(resources, min(pool.cpus_free, get_settings().worker_cpus)):
        grant = _grant(resources, cpus)
        disk_ok = pool.disk_free is None or grant.disk <= pool.disk_free
        if grant.memory <= pool.memory_free + 1e-9 and disk_ok:
            return grant
    return None


def decay(seconds_ago: float, half_life: float) -> float:
    """The weight of usage `seconds_ago` under exponential decay (HTCondor's PRIORITY_HALFLIFE)."""
    return math.exp(-math.log(2) * max(seconds_ago, 0.0) / half_life) if half_life > 0 else 1.0


def pool_usage(session: Session) -> PoolUsage:
    """The pool's capacity and what is free now: cores of the `prominence` pool, memory of
    PROMINENCE_WORKER_MEMORY_GB and disk of the sandboxes' filesystem, less what active runs hold."""
    found = runs.run_confs(session, [row.id for row in store.active_jobs(session)])
    return usage_of((grant_of(job_conf(conf)) for state, conf in found.values() if state in ACTIVE_RUN), pool_slots(session))


def pool_slots(session: Session) -> int:
    """The slots of the `prominence` pool (all workers' cores), else PROMINENCE_WORKER_CPUS."""
    # Airflow's ORM loads only where used: this module is imported with the plugin in every task process.
    from airflow.models.pool import Pool

    settings = get_settings()
    slots = session.scalar(select(Pool.slots).where(Pool.pool == settings.pool))
    return int(slots) if slots is not None and slots >= 0 else settings.worker_cpus


def pool_resources(session: Session) -> dict[str, Any]:
    """`GET /resources`' one site: the pool's capacity and what is free (cpus, whole GB of memory)."""
    usage = pool_usage(session)
    return {
        "capacity": {"cpus": usage.cpus_total, "memory": int(usage.memory_total)},
        "free": {"cpus": usage.cpus_free, "memory": int(usage.memory_free)},
        "site": get_settings().site,
    }
