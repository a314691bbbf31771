"""Which waiting jobs start now: fair share between users, `priority` within a user (docs/scheduling.md).

A job's Airflow run is created only once the job is admitted here, with the cores, memory and
disk it is given recorded in the run's conf; the pool's slots (scheduler/policy.py) then hold
exactly those cores. Admission, not Airflow's priority weights, decides who goes next because a
task instance's weight is fixed when the instance is created, while fair share must rank users
by their usage at the moment slots free up, and because Airflow's pools count one resource
(cores) where a job must also fit in memory and disk, and a range is resolved to what is free.

Each pass: the pool's free figures are what the active runs have not taken; users are ranked by
their recent usage (decayed cpu-seconds, HTCondor's model, half-life PROMINENCE_FAIRSHARE_HALF_LIFE),
then by the cores they hold now; the best-ranked user's next job (highest `priority`, then first
submitted) starts if it fits, otherwise it waits (its reason recorded) and the ranking picks again:
a smaller job, of that user or another, may fill what is free, as Airflow's pools did.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prominence.config import get_settings
from prominence.engine.resources import Grant, PoolUsage, decay, fit, never_fits

WAITING_FOR_QUOTA = "Waiting: the user's running cpus quota is reached"
WAITING_FOR_RESOURCES = "Waiting for enough free cpus, memory or disk"
# Past usage older than this many half-lives weighs under 1/1000 and is not read.
HALF_LIVES_READ = 10
# Each read of ended jobs reaches this far behind the previous one: an outcome may be committed a
# while after the end time it records (the reconciler stores lost write-backs).
OVERLAP_SECONDS = 300


@dataclass(frozen=True)
class Waiting:
    """A job without a run: its row's id, owner, submission time and stored description."""

    job_id: int
    owner: str
    created: int
    spec: Mapping[str, Any]

    @property
    def priority(self) -> int:
        return int((self.spec.get("policies") or {}).get("priority") or 0)

    @property
    def resources(self) -> Mapping[str, Any]:
        return self.spec.get("resources") or {}


@dataclass
class Plan:
    """What one pass decided: jobs to start with their grants, jobs that can never start, and
    why the head of each user's queue still waits."""

    start: list[tuple[Waiting, Grant]] = field(default_factory=list)
    never: list[Waiting] = field(default_factory=list)
    reasons: dict[int, str] = field(default_factory=dict)


class UsageBook:
    """Decayed cpu-seconds of the ended jobs of each user, kept up to date from pass to pass: a pass
    reads only the jobs that ended since the previous one (the first, HALF_LIVES_READ half-lives)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.at: float | None = None
        # Jobs already counted that the next read sees again (it overlaps the previous one).
        self.seen: set[int] = set()

    def since(self, now: float) -> int:
        """Where the next read of ended jobs starts, in epoch seconds."""
        if self.at is None:
            return int(now - HALF_LIVES_READ * get_settings().fairshare_half_life)
        return int(self.at) - OVERLAP_SECONDS

    def add(self, ended: Iterable[Any], now: float) -> Mapping[str, float]:
        """Decay the totals to `now` and count the jobs of `ended` (rows of store.ended_since) not counted yet."""
        half_life = get_settings().fairshare_half_life
        if self.at is not None:
            factor = decay(now - self.at, half_life)
            for owner in self.totals:
                self.totals[owner] *= factor
        seen = set()
        for row in ended:
            if row.end_time >= int(now) - OVERLAP_SECONDS:
                seen.add(row.id)
            if row.id in self.seen:
                continue
            cpus = int(((row.execution or {}).get("provisionedResources") or {}).get("cpus") or 1)
            self.totals[row.owner] += cpus * max(row.end_time - row.start_time, 0) * decay(now - row.end_time, half_life)
        self.at, self.seen = now, seen
        return self.totals


def usage_by_owner(ended: Mapping[str, float], running: Iterable[tuple[str, int, int]], now: float) -> dict[str, float]:
    """Recent usage per user: decayed cpu-seconds of ended jobs (a UsageBook's totals) plus the
    cpu-seconds so far of running jobs (owner, cpus, start)."""
    usage: dict[str, float] = defaultdict(float, ended)
    for owner, cpus, start in running:
        usage[owner] += cpus * max(now - start, 0)
    return usage


def plan(waiting: Iterable[Waiting], pool: PoolUsage, usage: Mapping[str, float], running_cpus: Mapping[str, int]) -> Plan:
    """Admit in fair-share order what fits `pool`; `running_cpus` are the cores each user holds."""
    quota = get_settings().quota_cpus_running
    result = Plan()
    queues: dict[str, list[Waiting]] = defaultdict(list)
    for job in waiting:
        if never_fits(job.resources, pool):
            result.never.append(job)
        else:
            queues[job.owner].append(job)
    for queue in queues.values():
        queue.sort(key=lambda job: (-job.priority, job.created, job.job_id), reverse=True)
    held = dict(running_cpus)
    told: set[str] = set()
    free = pool
    while queues and free.cpus_free > 0:
        owner = min(queues, key=lambda name: (usage.get(name, 0.0), held.get(name, 0), name))
        job = queues[owner].pop()
        if not queues[owner]:
            del queues[owner]
        left = quota - held.get(owner, 0) if quota > 0 else None
        grant = _fit_within_quota(job, free, left)
        if grant is None:
            if owner not in told:
                told.add(owner)
                by_quota = left is not None and fit(job.resources, free) is not None
                result.reasons[job.job_id] = WAITING_FOR_QUOTA if by_quota else WAITING_FOR_RESOURCES
            continue
        result.start.append((job, grant))
        held[owner] = held.get(owner, 0) + grant.cpus
        free = _taken(free, grant)
    return result


def _fit_within_quota(job: Waiting, free: PoolUsage, quota_left: int | None) -> Grant | None:
    if quota_left is None:
        return fit(job.resources, free)
    capped = PoolUsage(
        cpus_total=free.cpus_total,
        cpus_free=max(min(free.cpus_free, quota_left), 0),
        memory_total=free.memory_total,
        memory_free=free.memory_free,
        disk_total=free.disk_total,
        disk_free=free.disk_free,
    )
    return fit(job.resources, capped)


def _taken(free: PoolUsage, grant: Grant) -> PoolUsage:
    return PoolUsage(
        cpus_total=free.cpus_total,
        cpus_free=free.cpus_free - grant.cpus,
        memory_total=free.memory_total,
        memory_free=free.memory_free - grant.memory,
        disk_total=free.disk_total,
        disk_free=None if free.disk_free is None else free.disk_free - grant.disk,
    )
