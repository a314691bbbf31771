"""Accounting and the pool's resources (spec §12): what the CLI's `usage` and `resources` print."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Query
from pydantic import BaseModel

from prominence.engine.accounting import usage
from prominence.engine.resources import pool_resources
from prominence.rest.deps import SessionDep, UserDep
from prominence.rest.errors import bad_request, errors

router = APIRouter(tags=["accounting"])


class Totals(BaseModel):
    cpuTime: float
    wallTime: float
    numberOfJobs: int


class Usage(BaseModel):
    users: dict[str, Totals]
    groups: dict[str, Totals]


class Accounting(BaseModel):
    usage: Usage


class Amounts(BaseModel):
    cpus: int
    memory: int


class SiteResources(BaseModel):
    capacity: Amounts
    free: Amounts
    site: str


class PoolResources(BaseModel):
    existing: list[SiteResources]


def _day(value: str | None, which: str) -> date:
    if not value:
        raise bad_request(f"{which} date must be provided")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise bad_request("Unable to retrieve usage data") from None


@router.get("/accounting", response_model=Accounting, responses=errors(400))
def accounting(
    identity: UserDep,
    session: SessionDep,
    start: str | None = Query(None, description="YYYY-MM-DD, first day of submission"),
    end: str | None = Query(None, description="YYYY-MM-DD, last day of submission"),
    by_group: str | None = Query(None, description="`true`: only the total of the caller's group"),
    show_all_users: str | None = Query(None, description="`true`: every user of the caller's group"),
) -> dict:
    """CPU and wall hours (× provisioned cpus) of the finished jobs submitted in [start, end]."""
    first, last = _day(start, "Start"), _day(end, "End")
    found = usage(session, identity, first, last, by_group=by_group == "true", all_users=show_all_users == "true")
    return {"usage": found}


@router.get("/resources", response_model=PoolResources)
def resources(identity: UserDep, session: SessionDep) -> dict:
    """The pool: one site, its capacity and what the running jobs leave free."""
    return {"existing": [pool_resources(session)]}
