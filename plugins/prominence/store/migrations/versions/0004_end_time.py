"""Jobs by end time: admission reads the jobs that ended since its last pass (fair share).

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_prominence_jobs_end", "prominence_jobs", ["end_time"])


def downgrade() -> None:
    op.drop_index("ix_prominence_jobs_end", table_name="prominence_jobs")
