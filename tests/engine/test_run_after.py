"""A job's run is eligible for the scheduler in the second it is created (engine/runs.py): the
scheduler's query compares `run_after` with the database's `now()`, which SQLite gives in whole
seconds (real SQLite, Airflow's own column type)."""

from __future__ import annotations

import time

from airflow.utils.sqlalchemy import UtcDateTime
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, func, insert, select

from prominence.engine.runs import _run_after


def test_a_run_created_now_is_past_its_run_after_for_sqlite():
    metadata = MetaData()
    runs = Table("runs", metadata, Column("id", Integer, primary_key=True), Column("run_after", UtcDateTime))
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(runs).values(id=1, run_after=_run_after(int(time.time()))))
        eligible = connection.scalars(select(runs.c.id).where(runs.c.run_after <= func.now())).all()
    assert eligible == [1]
