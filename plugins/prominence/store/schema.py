"""Our schema's migrations (Alembic), run by `stack.py up` and, idempotently, on first use."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, Engine

VERSION_TABLE = "prominence_alembic_version"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Autogenerate compares our tables only, never Airflow's."""
    return type_ != "table" or (name.startswith("prominence_") and name != VERSION_TABLE)


def config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring our tables to the newest revision; a no-op when they are there already."""
    with engine.begin() as connection:
        command.upgrade(config(connection), "head")


def upgrade_store() -> None:
    """`stack.py up` runs this after `airflow db migrate`, before any component starts."""
    from airflow import settings

    from prominence.store.db import store_engine

    ours = store_engine()
    if ours is not settings.engine:
        adopt(settings.engine, ours)


def adopt(old: Engine, new: Engine) -> int:
    """Copy our rows out of Airflow's SQLite database into a new file of their own, once, so an
    installation from before the split keeps its jobs; returns how many rows moved."""
    from sqlalchemy import func, inspect, insert, select

    from prominence.store.tables import ids, metadata

    if ids.name not in inspect(old).get_table_names():
        return 0
    moved = 0
    with new.begin() as target:
        if target.execute(select(func.count()).select_from(ids)).scalar():
            return 0
        with old.connect() as source:
            for table in metadata.sorted_tables:
                rows = [dict(row._mapping) for row in source.execute(select(table))]
                if rows:
                    target.execute(insert(table), rows)
                    moved += len(rows)
    return moved


def new_revision(engine: Engine, message: str) -> None:
    """Write a revision for what changed in store/tables.py (a developer's tool, not run by the stack)."""
    with engine.begin() as connection:
        command.revision(config(connection), message=message, autogenerate=True)
