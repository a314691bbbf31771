"""The components' database URL names the stack's own role; a `stack.py` command run in the
environment `stack.py env` printed (which holds that URL) still administers with the admin URL."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from stack_database import admin_url, component_url  # noqa: E402

ADMIN = "postgresql+psycopg2://postgres@db.example:5433/prominence?sslmode=require"


def test_the_components_connect_as_the_stack_role_with_its_password():
    url = component_url(ADMIN, "pw-1")
    assert url == "postgresql+psycopg2://prominence_stack:pw-1@db.example:5433/prominence?sslmode=require"


def test_other_databases_are_used_as_given():
    assert component_url("sqlite:////srv/airflow.db", "pw-1") == "sqlite:////srv/airflow.db"


def test_the_exported_url_of_the_components_does_not_replace_the_recorded_admin_url():
    assert admin_url(component_url(ADMIN, "pw-1"), recorded=ADMIN) == ADMIN
    other = "postgresql+psycopg2://admin:secret@db.example/other"
    assert admin_url(other, recorded=ADMIN) == other
    assert admin_url(None, recorded=ADMIN) == ADMIN
    assert admin_url(ADMIN, recorded=None) == ADMIN
