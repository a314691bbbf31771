"""Queries on the key-value table (spec §11): every call is scoped to one owner's keys.

Keys are stored normalised, without the leading `/` the API shows, so `/a/b` and `a/b` are one
key. Prefixes match raw (`a` matches `ab` as in etcd) and case-sensitively on every database:
the comparison is an equality on a substring, not a LIKE (SQLite's LIKE ignores ASCII case).
"""

from __future__ import annotations

import re

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from prominence.store.tables import kv

MAX_KEY_CHARS = kv.c.path.type.length
_SLASHES = re.compile(r"/{2,}")
# Upserts in one statement, so two writers of one key never collide on the primary key.
_UPSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def normalise(key: str) -> str:
    """`//a//b` → `a/b`: repeated slashes collapsed, the leading one dropped."""
    return _SLASHES.sub("/", key).lstrip("/")


def put(session: Session, owner: str, path: str, value: bytes) -> None:
    insert = _UPSERTS[session.get_bind(clause=kv).dialect.name](kv).values(owner=owner, path=path, value=value)
    session.execute(insert.on_conflict_do_update(index_elements=[kv.c.owner, kv.c.path], set_={"value": value}))


def replace(session: Session, owner: str, path: str, previous: bytes, value: bytes) -> bool:
    """Compare-and-set: True if the key held `previous` and now holds `value`."""
    done = session.execute(update(kv).where(kv.c.owner == owner, kv.c.path == path, kv.c.value == previous).values(value=value))
    return done.rowcount == 1


def get(session: Session, owner: str, path: str) -> bytes | None:
    return session.execute(select(kv.c.value).where(kv.c.owner == owner, kv.c.path == path)).scalar()


def find(session: Session, owner: str, prefix: str = "") -> list[tuple[str, bytes]]:
    """(path, value) of the owner's keys starting with `prefix`, in key order."""
    query = select(kv.c.path, kv.c.value).where(kv.c.owner == owner, _starts_with(prefix)).order_by(kv.c.path)
    return [(row.path, row.value) for row in session.execute(query)]


def remove(session: Session, owner: str, path: str, *, prefix: bool = False) -> int:
    """Delete one key, or with `prefix` every key starting with `path`; the number deleted."""
    match = _starts_with(path) if prefix else kv.c.path == path
    return session.execute(delete(kv).where(kv.c.owner == owner, match)).rowcount


def _starts_with(prefix: str):
    return func.substr(kv.c.path, 1, len(prefix)) == prefix
