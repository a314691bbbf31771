"""Our schema's migrations (Alembic), run by `stack.py up` and, idempotently, on first use (store/db.py)."""

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


def new_revision(engine: Engine, message: str) -> None:
    """Write a revision for what changed in store/tables.py (a developer's tool, not run by the stack)."""
    with engine.begin() as connection:
        command.revision(config(connection), message=message, autogenerate=True)
