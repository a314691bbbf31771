"""The `stack` fixture: one real PROMINENCE stack per test session, started with
`scripts/stack.py up` in a temporary PROMINENCE_HOME on free ports and stopped with `down`.

With PROMINENCE_DATABASE_URL set (the PostgreSQL pass of `make test`), the session gets a fresh
database named after the one in the URL, dropped at the end with its role, so runs never see
each other's jobs.
With PROMINENCE_EXECUTOR=celery as well (the Celery pass), the stack runs Celery workers on an
empty Redis database of its own, so no other stack's workers take its tasks; tests marked
`celery` run only then.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration import leaks
from tests.integration.api import ARTIFACT_HOST

REPO = Path(__file__).resolve().parents[2]
STACK_PY = REPO / "scripts" / "stack.py"
sys.path.insert(0, str(REPO / "scripts"))

from stack_database import drop_database  # noqa: E402


def pytest_collection_modifyitems(items):
    celery = os.environ.get("PROMINENCE_EXECUTOR") == "celery"
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.integration)
        if item.get_closest_marker("celery") and not celery:
            item.add_marker(pytest.mark.skip(reason="needs the Celery stack (PROMINENCE_EXECUTOR=celery)"))


@dataclass
class RunningStack:
    """A started stack: `url` is PROMINENCE_URL; `env` is a full environment for subprocesses
    (os.environ plus the stack's variables, as `stack.py env` prints them)."""

    home: Path
    url: str
    env: dict[str, str]
    issued: set[str] = field(default_factory=set)

    def stack_py(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run a `scripts/stack.py` subcommand against this stack."""
        return subprocess.run(
            [sys.executable, str(STACK_PY), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def token(self, user: str, groups: str = "", email: str | None = None) -> str:
        """A bearer token (JWT) for `user`, as `make token` prints it."""
        done = self.stack_py("token", user, "--groups", groups, *(["--email", email] if email else []))
        assert done.returncode == 0, done.stderr
        self.issued.add(done.stdout)
        leaks.forbid({done.stdout})
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


def empty_redis_database(host: str = "127.0.0.1", port: int = 6379) -> str:
    """The URL of a Redis database holding no key (Redis has 16), as a broker of this session only."""
    # The client loads only for the Celery pass.
    import redis

    for db in random.sample(range(1, 16), 15):
        if redis.Redis(host=host, port=port, db=db).dbsize() == 0:
            return f"redis://{host}:{port}/{db}"
    raise RuntimeError(f"no empty Redis database on {host}:{port}")


@contextmanager
def running_stack(home: Path, **settings: str) -> Iterator[RunningStack]:
    """A stack in `home` on free ports, with `settings` added to its environment, stopped after."""
    env = {
        **os.environ,
        "PROMINENCE_HOME": str(home),
        "PROMINENCE_PORT": str(free_port()),
        "PROMINENCE_REGISTRY": f"127.0.0.1:{free_port()}",
        "PROMINENCE_S3_PORT": str(free_port()),
        # Stage-in downloads only from public addresses; the tests' own artifact server
        # (test_data.py) listens on this loopback address, allow-listed the documented way.
        "PROMINENCE_STAGEIN_ALLOWED_NETWORKS": f"{ARTIFACT_HOST}/32",
        **settings,
    }
    # The admin URL, not the stack's own: `stack.py env` below puts that in `env`.
    database = None
    if os.environ.get("PROMINENCE_DATABASE_URL"):
        from sqlalchemy.engine import make_url

        base = make_url(os.environ["PROMINENCE_DATABASE_URL"])
        database = base.set(database=f"{base.database or 'prominence'}_{secrets.token_hex(4)}").render_as_string(
            hide_password=False
        )
        env["PROMINENCE_DATABASE_URL"] = database
    if os.environ.get("PROMINENCE_EXECUTOR") == "celery":
        env.setdefault("PROMINENCE_CELERY_BROKER_URL", empty_redis_database())
        env["PROMINENCE_CELERY_LOG_PORT"] = str(free_port())
    running = RunningStack(home=home, url="", env=env)
    try:
        up = running.stack_py("up")
        assert up.returncode == 0, f"stack.py up failed:\n{up.stdout}\n{up.stderr}"
        exported = running.stack_py("env", "--json")
        running.env.update(json.loads(exported.stdout))
        running.url = running.env["PROMINENCE_URL"]
        leaks.forbid(leaks.stack_secrets(home))
        yield running
        secrets_and_tokens = leaks.stack_secrets(home) | running.issued | leaks.job_tokens(home)
        assert leaks.leaked_in_logs(home, secrets_and_tokens) == [], "logs hold a secret or a token"
    finally:
        down = running.stack_py("down")
        if database is not None:
            drop_database(database)
        assert down.returncode == 0, f"stack.py down failed:\n{down.stdout}\n{down.stderr}"


@pytest.fixture(scope="session")
def mailbox():
    """The SMTP server (aiosmtpd on loopback) the session's stack sends its notifications to."""
    # Imported in the fixture: pytest loads conftest before tests/ is importable as a package.
    from tests.mailbox import smtp_server

    with smtp_server() as (box, port):
        box.port = port
        yield box


@pytest.fixture(scope="session")
def stack(reachable_tmp, mailbox) -> Iterator[RunningStack]:
    smtp = {"PROMINENCE_SMTP_HOST": "127.0.0.1", "PROMINENCE_SMTP_PORT": str(mailbox.port)}
    with running_stack(reachable_tmp / "prominence", **smtp) as running:
        yield running


@pytest.fixture(scope="session")
def sample_image(stack) -> str:
    """An image the stack serves from its own registry (a busybox with a POSIX shell)."""
    return stack.env["SAMPLE_IMAGE"]


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
