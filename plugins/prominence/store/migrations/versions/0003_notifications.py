"""Email notifications: the owner's address and whether a notification is owed, on jobs and workflows.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("prominence_jobs", "prominence_workflows")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("email", sa.String(length=320), nullable=True))
            batch.add_column(sa.Column("notify", sa.String(length=8), nullable=True))
        op.create_index(f"ix_{table}_notify", table, ["notify"])


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_notify", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("notify")
            batch.drop_column("email")
