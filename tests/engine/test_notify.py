"""Notifications sent by the reconciler's pass to a real SMTP server (aiosmtpd on loopback), from
rows of a real SQLite store: once per job or workflow, only when it ended, never a second copy."""

from __future__ import annotations

import logging
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, insert, select
from sqlalchemy.orm import Session

from prominence.auth.caller import Identity
from prominence.config import Settings
from prominence.engine import notify
from prominence.store.tables import jobs, metadata, workflows
from tests.mailbox import free_port, smtp_server


@pytest.fixture
def store(monkeypatch):
    engine = create_engine("sqlite://")
    metadata.create_all(engine)

    @contextmanager
    def scope(write=False):
        with Session(engine) as session:
            yield session
            session.commit()

    monkeypatch.setattr(notify, "session_scope", scope)
    return engine


def configure(monkeypatch, port: int | None, **values) -> None:
    settings = Settings(smtp_host="127.0.0.1" if port else None, smtp_port=port or 25, smtp_from="prominence@test", **values)
    monkeypatch.setattr(notify, "get_settings", lambda: settings)


def add(engine, table, row_id: int, status: str, email: str = "alice@example.org", notify_state: str | None = "pending"):
    values = {"id": row_id, "uuid": f"u{row_id}", "owner": "alice", "name": f"n{row_id}", "status": status, "spec": {}}
    values |= {"create_time": 0, "email": email, "notify": notify_state}
    if table is jobs:
        values["status_reason"] = "Walltime limit exceeded" if status == "killed" else None
    with Session(engine) as session:
        session.execute(insert(table).values(**values))
        session.commit()


def state(engine, table, row_id: int) -> str | None:
    with Session(engine) as session:
        return session.execute(select(table.c.notify).where(table.c.id == row_id)).scalar_one()


def test_each_finished_job_and_workflow_mails_its_owner_once(store, monkeypatch):
    add(store, jobs, 1, "completed")
    add(store, jobs, 2, "killed", email="bob@example.org")
    add(store, jobs, 3, "running")
    add(store, jobs, 4, "deleted")
    add(store, jobs, 5, "completed", notify_state=None)
    add(store, workflows, 6, "failed")
    with smtp_server() as (box, port):
        configure(monkeypatch, port)
        notifier = notify.Notifier()
        notifier.send_owed()
        notifier.send_owed()
    subjects = sorted(m["Subject"] for m in box.messages)
    assert subjects == ["PROMINENCE job 1 (n1) completed", "PROMINENCE job 2 (n2) killed", "PROMINENCE workflow 6 (n6) failed"]
    killed = next(m for m in box.messages if "job 2" in m["Subject"])
    assert killed["To"] == "bob@example.org" and killed["From"] == "prominence@test"
    assert "status: killed" in killed.get_content() and "reason: Walltime limit exceeded" in killed.get_content()
    assert [state(store, jobs, i) for i in (1, 3, 4, 5)] == ["sent", "pending", None, None]


def test_a_refused_recipient_is_retried_then_given_up_and_holds_up_nobody(store, monkeypatch):
    add(store, jobs, 1, "completed", email="gone@example.org")
    add(store, jobs, 2, "completed")
    with smtp_server() as (box, port):
        box.refuse.add("gone@example.org")
        configure(monkeypatch, port)
        notifier = notify.Notifier()
        for _ in range(notify.MAX_ATTEMPTS):
            assert state(store, jobs, 1) == "pending"
            notifier.send_owed()
    assert [m["To"] for m in box.messages] == ["alice@example.org"]
    assert state(store, jobs, 1) == "failed"


def test_an_unreachable_server_keeps_the_notification_owed(store, monkeypatch):
    add(store, jobs, 1, "failed")
    configure(monkeypatch, free_port())
    notify.Notifier().send_owed()
    assert state(store, jobs, 1) == "pending"
    with smtp_server() as (box, port):
        configure(monkeypatch, port)
        notify.Notifier().send_owed()
    assert len(box.messages) == 1 and state(store, jobs, 1) == "sent"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_login_works_and_the_password_is_never_logged(store, monkeypatch, caplog):
    add(store, jobs, 1, "completed")
    caplog.set_level(logging.DEBUG, logger="prominence")
    with smtp_server(login=("mailer", "s3cret-pw")) as (box, port):
        configure(monkeypatch, port, smtp_user="mailer", smtp_password="wrong-pw")
        notify.Notifier().send_owed()
        assert box.messages == [] and state(store, jobs, 1) == "pending"
        configure(monkeypatch, port, smtp_user="mailer", smtp_password="s3cret-pw")
        notify.Notifier().send_owed()
    assert len(box.messages) == 1
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("prominence"))
    assert "s3cret-pw" not in logged and "wrong-pw" not in logged and "535" in logged


def test_nothing_is_owed_without_notifications_an_email_or_a_server(monkeypatch):
    configure(monkeypatch, 2525)
    asked = [{"event": "jobFinished", "type": "email"}]
    assert notify.owed(Identity("alice", email="a@example.org"), asked) == "pending"
    assert notify.owed(Identity("alice", email="a@example.org"), []) is None
    assert notify.owed(Identity("alice"), asked) is None
    configure(monkeypatch, None)
    assert notify.owed(Identity("alice", email="a@example.org"), asked) is None
