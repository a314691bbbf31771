"""Jobs by end time: admission reads the jobs that ended since its last pass (fair share).

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_prominence_jobs_end", "prominence_jobs", ["end_time"])


def downgrade() -> None:
    op.drop_index("ix_prominence_jobs_end", table_name="prominence_jobs")
