"""A warm `up` (a SQLite stack whose schema, pool and admin user are in place) runs no `airflow`
CLI command: each costs seconds of imports. What is missing or out of date still gets one."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import stack as stack_cli  # noqa: E402
from stack_config import Stack  # noqa: E402


@pytest.fixture
def stack(tmp_path: Path, monkeypatch) -> Stack:
    monkeypatch.setenv("PROMINENCE_WORKER_CPUS", "4")
    (tmp_path / "airflow").mkdir()
    (tmp_path / "secrets.env").write_text("PROMINENCE_ADMIN_PASSWORD=secret\n")
    with sqlite3.connect(tmp_path / "airflow" / "airflow.db") as db:
        db.execute("CREATE TABLE alembic_version (version_num TEXT)")
        db.execute("INSERT INTO alembic_version VALUES ('abc123')")
        db.execute("CREATE TABLE slot_pool (pool TEXT, slots INTEGER)")
        db.execute("CREATE TABLE ab_user (username TEXT)")
    return Stack(home=tmp_path, port=8080, registry="127.0.0.1:5000", database_url=None, s3_port=9000)


@pytest.fixture
def commands(monkeypatch) -> list[tuple[str, ...]]:
    called: list[tuple[str, ...]] = []

    def record(_stack, _env, *args: str, **_kw):
        called.append(args[:2])
        return stack_cli.subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(stack_cli, "airflow", record)
    return called


def test_a_configured_stack_runs_no_cli_command(stack: Stack, commands) -> None:
    with sqlite3.connect(stack.path("airflow", "airflow.db")) as db:
        db.execute("INSERT INTO slot_pool VALUES ('prominence', 4)")
        db.execute("INSERT INTO ab_user VALUES ('admin')")
    stack_cli.configure(stack, {})
    assert commands == []


def test_a_pool_of_another_size_and_a_missing_user_are_set(stack: Stack, commands) -> None:
    with sqlite3.connect(stack.path("airflow", "airflow.db")) as db:
        db.execute("INSERT INTO slot_pool VALUES ('prominence', 2)")
    stack_cli.configure(stack, {})
    assert commands == [("pools", "set"), ("users", "create")]


def test_the_schema_is_migrated_once_per_airflow_version_and_revision(stack: Stack) -> None:
    marker = stack.path("airflow", stack_cli.MIGRATED)
    assert stack_cli.migrated(stack) != stack_cli.read_text(marker)  # never migrated: migrate
    marker.write_text(stack_cli.migrated(stack))
    assert stack_cli.migrated(stack) == stack_cli.read_text(marker)
    with sqlite3.connect(stack.path("airflow", "airflow.db")) as db:
        db.execute("UPDATE alembic_version SET version_num = 'def456'")
    assert stack_cli.migrated(stack) != stack_cli.read_text(marker)


def test_postgresql_stacks_always_ask_airflow(tmp_path: Path) -> None:
    stack = Stack(home=tmp_path, port=8080, registry="r:5000", database_url="postgresql://db/airflow", s3_port=9000)
    assert stack_cli.migrated(stack) is None
    assert stack_cli.sqlite_row(stack, "SELECT 1") is None
