"""The migrations build exactly the schema store/tables.py declares, and running them is idempotent."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from prominence.store.schema import VERSION_TABLE, include_object, upgrade
from prominence.store.tables import metadata


def test_migrations_match_the_declared_tables(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": include_object})
        assert compare_metadata(context, metadata) == [], (
            "store/tables.py changed: add a migration (store/schema.py new_revision)"
        )


def test_upgrading_twice_changes_nothing(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade(engine)
    upgrade(engine)
    tables = set(inspect(engine).get_table_names())
    assert VERSION_TABLE in tables and {t.name for t in metadata.sorted_tables} <= tables
