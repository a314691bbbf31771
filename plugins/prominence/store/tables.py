"""Our tables, all prefixed `prominence_`: in Airflow's database, or in a file beside it when that
is SQLite (store/db.py)."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, Index, Integer, LargeBinary, MetaData, String, Table, Text, func

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
    # Workflow jobs: the job's own name in the workflow, its factory instance index and
    # parameters, and the try of the workflow node that released it.
    Column("workflow_job", String(512), nullable=True),
    Column("workflow_index", Integer, nullable=True),
    Column("workflow_try", Integer, nullable=True),
    Column("parameters", JSON, nullable=True),
    # Email notifications (spec §3.1, §7.1): the owner's address when known, and `pending` while
    # one is owed, `sent` once the reconciler took it (engine/notify.py); NULL when none is wanted.
    Column("email", String(320), nullable=True),
    Column("notify", String(8), nullable=True),
    Index("ix_prominence_jobs_owner_queue", "owner", "in_queue"),
    Index("ix_prominence_jobs_notify", "notify"),
    Index("ix_prominence_jobs_workflow", "workflow_id", "workflow_job"),
    Index("ix_prominence_jobs_owner_end", "owner", "end_time"),
    Index("ix_prominence_jobs_end", "end_time"),
)
# A workflow releases each instance of a job once per try of its node, however many `advance`
# calls race (engine/workflows.py): the key is unique, a job without factory counting as index -1.
Index(
    "uq_prominence_jobs_member",
    jobs.c.workflow_id,
    jobs.c.workflow_job,
    func.coalesce(jobs.c.workflow_index, -1),
    func.coalesce(jobs.c.workflow_try, 0),
    unique=True,
)

# The checksum a client declared when it asked to upload an object (spec §9 `prominence_sha256`).
# Kept here rather than as S3 object metadata: presigned PUTs cannot carry metadata the client
# does not send, and the embedded S3 server keeps metadata in memory only.
uploads = Table(
    "prominence_uploads",
    metadata,
    Column("key", String(1024), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("recorded", BigInteger, nullable=False),
)

# The key-value store (spec §11): each user's keys apart; values are raw bytes, at most
# `kv_max_bytes`. Keys are normalised paths without a leading `/` (see store/kv.py).
kv = Table(
    "prominence_kv",
    metadata,
    Column("owner", String(256), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

workflows = Table(
    "prominence_workflows",
    metadata,
    # Drawn from prominence_ids, like job ids (spec §1.2).
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("owner", String(256), nullable=False),
    Column("groups", String(1024), nullable=False, default=""),
    Column("name", String(512), nullable=False, default=""),
    # idle until terminal; running/idle of an active workflow is derived from its jobs.
    Column("status", String(16), nullable=False, default="idle"),
    Column("status_reason", Text, nullable=True),
    Column("spec", JSON, nullable=False),
    Column("labels", JSON, nullable=True),
    Column("create_time", BigInteger, nullable=False),
    Column("start_time", BigInteger, nullable=True),
    Column("end_time", BigInteger, nullable=True),
    Column("in_queue", Boolean, nullable=False, default=True),
    Column("leave_in_queue", Boolean, nullable=False, default=False),
    # A rerun (PUT /workflows/<id>) inherits its ancestors' successful jobs: their ids, newest first.
    Column("lineage", JSON, nullable=False, default=list),
    # As for jobs; members are released with this address.
    Column("email", String(320), nullable=True),
    Column("notify", String(8), nullable=True),
    Index("ix_prominence_workflows_owner_queue", "owner", "in_queue"),
    Index("ix_prominence_workflows_notify", "notify"),
)
