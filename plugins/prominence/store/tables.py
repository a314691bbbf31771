"""Our tables, beside Airflow's in the same database, all prefixed `prominence_`."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

# One sequence for jobs and workflows (spec §1.2); a table because SQLite has no sequences.
ids = Table(
    "prominence_ids",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    sqlite_autoincrement=True,
)

jobs = Table(
    "prominence_jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("owner", String(256), nullable=False),
    Column("groups", String(1024), nullable=False, default=""),
    Column("name", String(512), nullable=False, default=""),
    # Set once the job is terminal; active jobs derive their state from Airflow on read.
    Column("status", String(16), nullable=False, default="idle"),
    Column("status_reason", Text, nullable=True),
    Column("spec", JSON, nullable=False),
    Column("labels", JSON, nullable=True),
    Column("execution", JSON, nullable=True),
    # The wrapper's verdict (spec §13.8) that workflows act on: False when a task failed.
    Column("succeeded", Boolean, nullable=True),
    # Epoch seconds (spec §1.3).
    Column("create_time", BigInteger, nullable=False),
    Column("start_time", BigInteger, nullable=True),
    Column("end_time", BigInteger, nullable=True),
    # False once the job has left the active list (terminal and not leaveInQueue, or removed).
    Column("in_queue", Boolean, nullable=False, default=True),
    Column("leave_in_queue", Boolean, nullable=False, default=False),
    Column("workflow_id", Integer, nullable=True),
    Index("ix_prominence_jobs_owner_queue", "owner", "in_queue"),
    Index("ix_prominence_jobs_owner_end", "owner", "end_time"),
)
