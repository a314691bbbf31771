"""A workflow's job instance is released once per try: unique (workflow, job, index, try).

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "uq_prominence_jobs_member",
        "prominence_jobs",
        ["workflow_id", "workflow_job", sa.text("coalesce(workflow_index, -1)"), sa.text("coalesce(workflow_try, 0)")],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_prominence_jobs_member", table_name="prominence_jobs")
