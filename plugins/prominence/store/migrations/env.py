"""Alembic environment for PROMINENCE's own tables, beside Airflow's in the same database.

Our revisions are tracked in `prominence_alembic_version`, so they never touch Airflow's.
"""

from __future__ import annotations

from alembic import context

from prominence.store.schema import VERSION_TABLE, include_object
from prominence.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    include_object=include_object,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
