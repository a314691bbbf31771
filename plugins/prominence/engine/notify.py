"""Email notifications (spec §3.1 `jobFinished`, §7.1 `workflowFinished`), sent by the reconciler.

Sent from the reconciler's pass (engine/reconciler.py), not from the scheduler's listener: the
listener runs inside the scheduler's transaction and must never wait on a mail server, while
the reconciler is a process of its own that already sweeps every few seconds, is supervised,
and finds what is owed in the database, so a notification survives the restart of any process.
A row owes one when it is submitted with `notifications`, its owner's token carries an email
and PROMINENCE_SMTP_HOST is set (`notify = 'pending'`).

Exactly once, as far as SMTP allows: each notification is claimed (pending -> sent, committed)
before it is sent, so a terminal state seen twice, two passes or two reconcilers never send it
twice. A message the server refuses gives the claim back, at most MAX_ATTEMPTS times (then
`failed`); a server that cannot be reached gives it back and ends the pass's sending. A
reconciler killed between its claim and the send loses that one message: never a second copy.
The SMTP password is used for `login` only: never logged, never in a message.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Iterable
from email.message import EmailMessage
from typing import Any

from prominence.auth.caller import Identity
from prominence.config import Settings, get_settings
from prominence.store import notifications as store
from prominence.store.db import session_scope
from prominence.store.tables import jobs, workflows

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3
# Notifications sent in one pass at most, so the reconciler's other work never waits long.
BATCH = 50
KINDS = (("job", jobs), ("workflow", workflows))


def owed(identity: Identity, notifications: Iterable[Any] | None) -> str | None:
    """The `notify` value of a new row: pending when it asked for one and it can be sent."""
    return store.PENDING if notifications and identity.email and get_settings().smtp_host else None


def message(kind: str, row: Any, sender: str) -> EmailMessage:
    """What the owner reads: which job or workflow, and how it ended."""
    mail = EmailMessage()
    name = f" ({row.name})" if row.name else ""
    mail["Subject"] = f"PROMINENCE {kind} {row.id}{name} {row.status}"
    mail["From"] = sender
    mail["To"] = row.email
    lines = [f"Your {kind} {row.id}{name} has finished.", "", f"id: {row.id}", f"name: {row.name}", f"status: {row.status}"]
    if row.status_reason:
        lines.append(f"reason: {row.status_reason}")
    mail.set_content("\n".join(lines) + "\n")
    return mail


class Notifier:
    """Sends what is owed; remembers across passes how often each message was refused."""

    def __init__(self) -> None:
        self.refusals: dict[tuple[str, int], int] = {}

    def send_owed(self) -> None:
        settings = get_settings()
        if not settings.smtp_host:
            return
        due: list[tuple[str, Any, Any]] = []
        with session_scope() as session:
            for kind, table in KINDS:
                store.forget_deleted(session, table)
                due += [(kind, table, row) for row in store.owed(session, table, BATCH - len(due))]
        if not due:
            return
        try:
            with _connect(settings) as smtp:
                for kind, table, row in due:
                    self._send(smtp, settings, kind, table, row)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("SMTP server %s:%s failed (%s); notifications wait for the next pass", *_server(settings), exc)

    def _send(self, smtp: smtplib.SMTP, settings: Settings, kind: str, table: Any, row: Any) -> None:
        with session_scope() as session:
            if not store.move(session, table, row.id, store.PENDING, store.SENT):
                return
        key = (kind, row.id)
        try:
            smtp.send_message(message(kind, row, settings.smtp_from))
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            refused = self.refusals[key] = self.refusals.get(key, 0) + 1
            final = refused >= MAX_ATTEMPTS
            if final:
                del self.refusals[key]
            self._give_back(table, row.id, store.FAILED if final else store.PENDING)
            log.warning("%s %s: notification refused (%s)%s", kind, row.id, exc, ", giving up" if final else "")
            return
        except BaseException:
            self._give_back(table, row.id, store.PENDING)
            raise
        self.refusals.pop(key, None)
        log.info("%s %s: notification sent", kind, row.id)

    @staticmethod
    def _give_back(table: Any, row_id: int, to: str) -> None:
        with session_scope() as session:
            store.move(session, table, row_id, store.SENT, to)


def _server(settings: Settings) -> tuple[str | None, int]:
    return settings.smtp_host, settings.smtp_port


def _connect(settings: Settings) -> smtplib.SMTP:
    """A connection ready to send: STARTTLS (verified) and login when configured."""
    smtp = smtplib.SMTP(settings.smtp_host or "", settings.smtp_port, timeout=settings.smtp_timeout)
    try:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_user:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            smtp.login(settings.smtp_user, password)
    except BaseException:
        smtp.close()
        raise
    return smtp
