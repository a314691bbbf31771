"""Initial schema: jobs, workflows, key-value store, uploads, the id sequence.

Revision ID: 0001
Revises:
Create Date: 2026-11-29 11:56:27.124151

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "prominence_ids",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "prominence_jobs",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("owner", sa.String(length=256), nullable=False),
        sa.Column("groups", sa.String(length=1024), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=True),
        sa.Column("execution", sa.JSON(), nullable=True),
        sa.Column("succeeded", sa.Boolean(), nullable=True),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("start_time", sa.BigInteger(), nullable=True),
        sa.Column("end_time", sa.BigInteger(), nullable=True),
        sa.Column("in_queue", sa.Boolean(), nullable=False),
        sa.Column("leave_in_queue", sa.Boolean(), nullable=False),
        sa.Column("workflow_id", sa.Integer(), nullable=True),
        sa.Column("workflow_job", sa.String(length=512), nullable=True),
        sa.Column("workflow_index", sa.Integer(), nullable=True),
        sa.Column("workflow_try", sa.Integer(), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid"),
    )
    with op.batch_alter_table("prominence_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_prominence_jobs_owner_end", ["owner", "end_time"], unique=False)
        batch_op.create_index("ix_prominence_jobs_owner_queue", ["owner", "in_queue"], unique=False)
        batch_op.create_index("ix_prominence_jobs_workflow", ["workflow_id", "workflow_job"], unique=False)

    op.create_table(
        "prominence_kv",
        sa.Column("owner", sa.String(length=256), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("owner", "path"),
    )
    op.create_table(
        "prominence_uploads",
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("recorded", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "prominence_workflows",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("owner", sa.String(length=256), nullable=False),
        sa.Column("groups", sa.String(length=1024), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=True),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("start_time", sa.BigInteger(), nullable=True),
        sa.Column("end_time", sa.BigInteger(), nullable=True),
        sa.Column("in_queue", sa.Boolean(), nullable=False),
        sa.Column("leave_in_queue", sa.Boolean(), nullable=False),
        sa.Column("lineage", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid"),
    )
    with op.batch_alter_table("prominence_workflows", schema=None) as batch_op:
        batch_op.create_index("ix_prominence_workflows_owner_queue", ["owner", "in_queue"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("prominence_workflows", schema=None) as batch_op:
        batch_op.drop_index("ix_prominence_workflows_owner_queue")

    op.drop_table("prominence_workflows")
    op.drop_table("prominence_uploads")
    op.drop_table("prominence_kv")
    with op.batch_alter_table("prominence_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_prominence_jobs_workflow")
        batch_op.drop_index("ix_prominence_jobs_owner_queue")
        batch_op.drop_index("ix_prominence_jobs_owner_end")

    op.drop_table("prominence_jobs")
    op.drop_table("prominence_ids")
