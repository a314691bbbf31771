"""Checksums declared for uploaded objects, by object key (see `tables.uploads` for why not S3
metadata). Read at submission as the `imageSha256` of tasks whose image is the object (spec §9).
"""

from __future__ import annotations

import time

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from prominence.store.tables import uploads


def record_checksum(session: Session, key: str, sha256: str) -> None:
    """The checksum of the next upload to `key` (a later upload request replaces it)."""
    session.execute(delete(uploads).where(uploads.c.key == key))
    session.execute(uploads.insert().values(key=key, sha256=sha256, recorded=int(time.time())))


def forget(session: Session, key: str) -> None:
    session.execute(delete(uploads).where(uploads.c.key == key))


def checksum(session: Session, key: str) -> str | None:
    """The checksum declared for the object at `key`, if its upload declared one."""
    return session.execute(select(uploads.c.sha256).where(uploads.c.key == key)).scalar_one_or_none()
