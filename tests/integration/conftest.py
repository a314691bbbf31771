"""The `stack` fixture: one real PROMINENCE stack per test session, started with
`scripts/stack.py up` in a temporary PROMINENCE_HOME on free ports and stopped with `down`.

With PROMINENCE_DATABASE_URL set (the PostgreSQL pass of `make test`), the session gets a fresh
database named after the one in the URL, dropped at the end, so runs never see each other's jobs.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.api import ARTIFACT_HOST

REPO = Path(__file__).resolve().parents[2]
STACK_PY = REPO / "scripts" / "stack.py"


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.integration)


@dataclass
class RunningStack:
    """A started stack: `url` is PROMINENCE_URL; `env` is a full environment for subprocesses
    (os.environ plus the stack's variables, as `stack.py env` prints them)."""

    home: Path
    url: str
    env: dict[str, str]

    def stack_py(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run a `scripts/stack.py` subcommand against this stack."""
        return subprocess.run(
            [sys.executable, str(STACK_PY), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def token(self, user: str, groups: str = "") -> str:
        """A bearer token (JWT) for `user`, as `make token` prints it."""
        done = self.stack_py("token", user, "--groups", groups)
        assert done.returncode == 0, done.stderr
        return done.stdout

    @property
    def admin_password(self) -> str:
        for line in (self.home / "secrets.env").read_text().splitlines():
            if line.startswith("PROMINENCE_ADMIN_PASSWORD="):
                return line.split("=", 1)[1]
        raise KeyError("PROMINENCE_ADMIN_PASSWORD")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres(url: str, statement: str) -> None:
    """Run one statement outside a transaction against the server's `postgres` database."""
    # The driver loads only for the PostgreSQL pass.
    import psycopg2
    from sqlalchemy.engine import make_url

    u = make_url(url)
    kw = {"host": u.host, "port": u.port, "user": u.username, "password": u.password}
    conn = psycopg2.connect(dbname="postgres", **{k: v for k, v in kw.items() if v is not None})
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


@pytest.fixture(scope="session")
def stack(reachable_tmp) -> RunningStack:
    home = reachable_tmp / "prominence"
    env = {
        **os.environ,
        "PROMINENCE_HOME": str(home),
        "PROMINENCE_PORT": str(free_port()),
        "PROMINENCE_REGISTRY": f"127.0.0.1:{free_port()}",
        "PROMINENCE_S3_PORT": str(free_port()),
        # Stage-in downloads only from public addresses; the tests' own artifact server
        # (test_data.py) listens on this loopback address, allow-listed the documented way.
        "PROMINENCE_STAGEIN_ALLOWED_NETWORKS": f"{ARTIFACT_HOST}/32",
    }
    database = None
    if os.environ.get("PROMINENCE_DATABASE_URL"):
        from sqlalchemy.engine import make_url

        base = make_url(os.environ["PROMINENCE_DATABASE_URL"])
        database = base.set(database=f"{base.database or 'prominence'}_{secrets.token_hex(4)}")
        env["PROMINENCE_DATABASE_URL"] = database.render_as_string(hide_password=False)
    running = RunningStack(home=home, url="", env=env)
    try:
        up = running.stack_py("up")
        assert up.returncode == 0, f"stack.py up failed:\n{up.stdout}\n{up.stderr}"
        exported = running.stack_py("env", "--json")
        running.env.update(json.loads(exported.stdout))
        running.url = running.env["PROMINENCE_URL"]
        yield running
    finally:
        down = running.stack_py("down")
        if database is not None:
            postgres(env["PROMINENCE_DATABASE_URL"], f'DROP DATABASE IF EXISTS "{database.database}" WITH (FORCE)')
        assert down.returncode == 0, f"stack.py down failed:\n{down.stdout}\n{down.stderr}"


@pytest.fixture(scope="session")
def sample_image(stack) -> str:
    """An image the stack serves from its own registry (a busybox with a POSIX shell)."""
    for line in (stack.home / "env").read_text().splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        if key == "SAMPLE_IMAGE":
            return value
    raise KeyError("SAMPLE_IMAGE")


@pytest.fixture(scope="session")
def alice(stack):
    # Imported in the fixture: pytest loads conftest before tests/ is importable as a package.
    from tests.integration.api import Api

    return Api(stack.url, stack.token("alice"))


@pytest.fixture(scope="session")
def bob(stack):
    # Imported in the fixture: pytest loads conftest before tests/ is importable as a package.
    from tests.integration.api import Api

    return Api(stack.url, stack.token("bob"))
