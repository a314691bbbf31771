"""The components' database URL names the stack's own role; the admin URL reaches no component."""

from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from stack_config import Stack, component_envs, load_secrets, stack_env  # noqa: E402
from stack_database import PASSWORD, component_url  # noqa: E402

ADMIN = "postgresql+psycopg2://postgres@db.example:5433/prominence?sslmode=require"


def test_the_components_connect_as_the_stack_role_with_its_password():
    url = component_url(ADMIN, "pw-1")
    assert url == "postgresql+psycopg2://prominence_stack:pw-1@db.example:5433/prominence?sslmode=require"


def test_other_databases_are_used_as_given():
    assert component_url("sqlite:////srv/airflow.db", "pw-1") == "sqlite:////srv/airflow.db"


def test_the_admin_url_stays_with_up(tmp_path: Path):
    stack = Stack(home=tmp_path, port=8080, registry="127.0.0.1:5000", database_url=ADMIN, s3_port=9000)
    env = stack_env(stack)
    assert "PROMINENCE_DATABASE_URL" not in env
    conn = make_url(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert (conn.username, conn.password) == ("prominence_stack", load_secrets(stack)[PASSWORD])
    shared, own = component_envs({**env, "PROMINENCE_DATABASE_URL": ADMIN})
    assert "PROMINENCE_DATABASE_URL" not in shared
    assert all("PROMINENCE_DATABASE_URL" not in values for values in own.values())
