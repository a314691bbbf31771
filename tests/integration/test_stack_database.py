"""A PostgreSQL stack's components log in as the stack's own role, with a password that only
secrets.env and their environment hold: PROMINENCE_DATABASE_URL's admin role is for `up` and the
teardown alone. Needs the server's pg_hba.conf rules from scripts/install-system.sh."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.integration import leaks

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import psycopg2  # noqa: E402
from stack_database import (  # noqa: E402
    CREATE_GROUP,
    PASSWORD_GROUP,
    component_url,
    connect,
    drop_database,
    ensure_database,
    role_name,
    scram_verifier,
)

ADMIN_URL = os.environ.get("PROMINENCE_DATABASE_URL", "")
pytestmark = pytest.mark.skipif(not ADMIN_URL, reason="needs PostgreSQL (PROMINENCE_DATABASE_URL, the PostgreSQL pass)")
HINT = "the server must ask prominence_stacks for a password: run scripts/install-system.sh"


def admin_of(database: str) -> str:
    return make_url(ADMIN_URL).set(database=database).render_as_string(hide_password=False)


def login(url: str, **overrides) -> str:
    """Connect over TCP as `url` says (with `overrides` of its fields): the role logged in."""
    target = make_url(url)
    kw = {"host": target.host or "127.0.0.1", "port": target.port, "user": target.username, "password": target.password}
    kw.update(overrides)
    conn = psycopg2.connect(dbname=target.database, passfile="/dev/null", **{k: v for k, v in kw.items() if v is not None})
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user")
            return cur.fetchone()[0]
    finally:
        conn.close()


def run(url: str, dbname: str, *statements: str) -> None:
    conn = connect(url, dbname)
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def rows(url: str, dbname: str, query: str, *args) -> list[tuple]:
    conn = connect(url, dbname)
    try:
        with conn.cursor() as cur:
            cur.execute(query, args)
            return cur.fetchall()
    finally:
        conn.close()


def test_a_role_with_the_computed_scram_verifier_logs_in_with_its_password_only():
    role, password = f"prominence_scram_{secrets.token_hex(4)}", secrets.token_urlsafe(32)
    conn = connect(ADMIN_URL, "postgres")
    try:
        with conn.cursor() as cur:
            cur.execute(CREATE_GROUP)
            cur.execute(f'CREATE ROLE "{role}" LOGIN IN ROLE {PASSWORD_GROUP} PASSWORD %s', (scram_verifier(password),))
        target = admin_of("postgres")
        assert login(target, user=role, password=password) == role
        with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
            login(target, user=role, password=password + "x")
    finally:
        with conn.cursor() as cur:
            cur.execute(f'DROP ROLE IF EXISTS "{role}"')
        conn.close()


def test_a_database_the_admin_role_made_is_handed_to_the_stack_role_and_dropped_with_it():
    database = f"{make_url(ADMIN_URL).database}_{secrets.token_hex(4)}"
    admin, password = admin_of(database), secrets.token_urlsafe(32)
    try:
        run(ADMIN_URL, "postgres", f'CREATE DATABASE "{database}"')
        # What a stack left before it had a role of its own: a table, sequences, an enum, all the admin's.
        run(
            admin,
            database,
            "CREATE TYPE state AS ENUM ('queued', 'done')",
            "CREATE TABLE job (id serial PRIMARY KEY, state state)",
            "CREATE SEQUENCE ticket",
        )
        ensure_database(admin, password)
        ensure_database(admin, password)  # every `up` runs it again
        stack = component_url(admin, password)
        assert login(stack) == role_name(database)
        run(
            stack,
            database,
            "INSERT INTO job (state) VALUES ('done')",
            "ALTER TABLE job ADD COLUMN note text",
            "ALTER TYPE state ADD VALUE 'failed'",
            "SELECT nextval('ticket')",
            "CREATE TABLE added (id int)",
        )
    finally:
        drop_database(admin)
    assert rows(ADMIN_URL, "postgres", "SELECT 1 FROM pg_database WHERE datname = %s", database) == []
    assert rows(ADMIN_URL, "postgres", "SELECT 1 FROM pg_roles WHERE rolname = %s", role_name(database)) == []


def stack_database(stack) -> tuple[str, str, str]:
    """The session stack's database, its role and that role's password."""
    url = make_url(stack.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    return url.database, url.username, url.password


def environments(home: Path) -> list[bytes]:
    """The environment of every process of the stack in `home` (they carry its marker)."""
    marker = f"PROMINENCE_STACK_HOME={home}".encode()
    found = []
    for path in Path("/proc").glob("[0-9]*/environ"):
        try:
            entries = path.read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in entries:
            found.append(entries)
    return found


def test_every_component_connects_as_the_stack_role(stack):
    database, role, _ = stack_database(stack)
    assert role == role_name(database)
    if stack.env.get("PROMINENCE_EXECUTOR") == "celery":
        assert stack.env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+" + stack.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    users = rows(ADMIN_URL, "postgres", "SELECT usename FROM pg_stat_activity WHERE datname = %s", database)
    assert users and {user for (user,) in users} == {role}
    processes = environments(stack.home)
    assert processes
    assert [entry for entries in processes for entry in entries if entry.startswith(b"PROMINENCE_DATABASE_URL=")] == []


def test_the_stack_role_needs_its_password(stack):
    database, role, password = stack_database(stack)
    url = admin_of(database)
    with pytest.raises(psycopg2.OperationalError, match="no password supplied|password authentication failed"):
        login(url, user=role, password=None)
        pytest.fail(HINT)
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        login(url, user=role, password="not-" + password)
        pytest.fail(HINT)
    assert login(url, user=role, password=password) == role


def test_the_password_is_in_no_log_and_no_command_line(stack):
    _, _, password = stack_database(stack)
    assert leaks.leaked_in_logs(stack.home, {password}) == []
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if password.encode() in cmdline.read_bytes():
                found.append(cmdline.parent.name)
        except OSError:
            continue
    assert found == []
