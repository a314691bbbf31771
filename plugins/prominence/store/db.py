"""Sessions on our tables and Airflow's, and our schema.

Our tables share Airflow's database, except when that is SQLite: SQLite has one write lock per
file, and the scheduler holds Airflow's for hundreds of milliseconds per loop when many runs are
active, so a create waiting behind it answered in seconds (profiled: 90% of a create's time was
the wait for that lock). There our tables get a file of their own beside Airflow's, and a session
routes each statement to the database holding its tables.

Lock order (docs/reliability.md), one for every process: Airflow's tables first, then ours. The
scheduler's listener writes ours inside the scheduler's transaction, which holds Airflow's rows
already; everything else that writes ours and then Airflow's (delete, the reconciler, the
dispatcher) commits ours first (`commit_store`), so no transaction ever holds a row of ours while
it waits for one of Airflow's, and the two orders can never meet in a deadlock.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from prominence.config import get_settings
from prominence.store.schema import upgrade
from prominence.store.tables import metadata

STORE_FILE = "prominence.db"
# Seconds a statement waits for an SQLite lock held by another connection.
SQLITE_BUSY_SECONDS = 30

_lock = threading.Lock()
_stores_lock = threading.Lock()
_schema_ready: set[int] = set()
# Our SQLite writers in one process queue here instead of in SQLite's busy handler, which sleeps
# up to 100 ms between tries and let a create starve behind the others (8 clients creating:
# p99 253 → 86 ms).
_sqlite_writer = threading.Lock()


@dataclass(frozen=True)
class Store:
    engine: Engine
    # Session binds routing our tables to `engine`; None when it is Airflow's engine.
    binds: dict | None


_stores: dict[int, Store] = {}


def store_url(airflow_url: str) -> str | None:
    """Where our tables live: PROMINENCE_STORE_URL, a file beside an SQLite Airflow database,
    or None for Airflow's own database."""
    configured = get_settings().store_url
    if configured:
        return configured
    url = make_url(airflow_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return url.set(database=str(Path(url.database).with_name(STORE_FILE))).render_as_string(hide_password=False)


def _store() -> Store:
    # airflow.settings configures Airflow when imported: only once a session is first needed.
    from airflow import settings

    airflow = settings.engine
    found = _stores.get(id(airflow))
    if found is not None:
        return found
    with _stores_lock:
        if id(airflow) not in _stores:
            url = store_url(airflow.url.render_as_string(hide_password=False))
            engine = airflow if url is None else _own_engine(url)
            ensure_schema(engine)
            binds = None if engine is airflow else {table: engine for table in metadata.sorted_tables}
            _stores[id(airflow)] = Store(engine, binds)
        return _stores[id(airflow)]


def _forget_pools_in_child() -> None:
    """A forked child must not share the parent's pooled connections (as Airflow does for its own)."""
    for store in _stores.values():
        if store.binds is not None:
            store.engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_pools_in_child)


def store_engine() -> Engine:
    """The engine of our tables in this process (Airflow's engine when they share its database)."""
    return _store().engine


def _own_engine(url: str) -> Engine:
    if make_url(url).get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS})

    @event.listens_for(engine, "connect")
    def wal(dbapi_connection, _record) -> None:
        # WAL: readers never wait for a writer; a commit costs one append and fsync.
        dbapi_connection.execute("PRAGMA journal_mode=WAL")

    return engine


def ensure_schema(engine: Engine) -> None:
    """Migrate our tables once per engine and process; idempotent, so every process may call it."""
    if id(engine) in _schema_ready:
        return
    with _lock:
        if id(engine) not in _schema_ready:
            upgrade(engine)
            _schema_ready.add(id(engine))


def new_session() -> Session:
    """A session on Airflow's database whose statements on our tables go to ours."""
    # airflow.settings configures Airflow when imported: only once a session is first needed.
    from airflow import settings

    return settings.NonScopedSession(binds=_store().binds)


@contextmanager
def session_scope(write: bool = False) -> Iterator[Session]:
    """A session committed on success, rolled back on error.

    `write`: the unit of work writes our tables and nothing else; on SQLite it waits its turn
    behind this process's other such writers."""
    session = new_session()
    queue = _sqlite_writer if write and store_engine().dialect.name == "sqlite" else nullcontext()
    try:
        with queue:
            yield session
            session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def separate_store() -> bool:
    """True when our tables are in a database of their own (then no transaction spans both)."""
    return _store().binds is not None


@contextmanager
def store_writes(session: Session) -> Iterator[Session]:
    """Where code running in someone else's transaction (the scheduler's listener) reads and
    writes: that same session when our tables share its database, else a short session of our own.

    Inside a SAVEPOINT of that transaction (except on SQLite, whose driver cannot nest one): an
    error here rolls back only what was done here, so the caller's transaction carries on. The
    savepoint is the connection's, not the ORM session's: Airflow refuses any session commit in
    the scheduler's critical section, and releasing a session savepoint counts as one."""
    connection = session.connection()
    guard = nullcontext() if connection.dialect.name == "sqlite" else connection.begin_nested()
    with guard:
        if not separate_store():
            yield session
            return
        with session_scope() as own:
            yield own


def commit_store(session: Session) -> None:
    """Commit our writes before writing Airflow's tables (the lock order above), on a shared
    database too: the rows of ours it locked are released before any of Airflow's is asked for."""
    session.commit()
