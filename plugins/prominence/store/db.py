"""Sessions on the database Airflow uses, and our schema in it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from prominence.store.schema import upgrade

_schema_lock = threading.Lock()
_schema_ready: set[int] = set()


def ensure_schema(engine: Engine) -> None:
    """Migrate our tables once per engine and process; idempotent, so every process may call it."""
    if id(engine) in _schema_ready:
        return
    with _schema_lock:
        if id(engine) not in _schema_ready:
            upgrade(engine)
            _schema_ready.add(id(engine))


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session on Airflow's database, committed on success, rolled back on error."""
    from airflow import settings

    ensure_schema(settings.engine)
    session: Session = settings.Session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
