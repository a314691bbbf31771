"""Checksums declared for uploaded objects, by object key (see `tables.uploads` for why not S3
metadata). Recorded for the images-from-the-data-area feature; nothing reads them yet (README).
"""

from __future__ import annotations

import time

from sqlalchemy import delete
from sqlalchemy.orm import Session

from prominence.store.tables import uploads


def record_checksum(session: Session, key: str, sha256: str) -> None:
    """The checksum of the next upload to `key` (a later upload request replaces it)."""
    session.execute(delete(uploads).where(uploads.c.key == key))
    session.execute(uploads.insert().values(key=key, sha256=sha256, recorded=int(time.time())))


def forget(session: Session, key: str) -> None:
    session.execute(delete(uploads).where(uploads.c.key == key))
