"""A freshly started embedded stack for the benchmarks, on free loopback ports in a temp home; on
PostgreSQL, a fresh database of BENCH_POSTGRES_URL's server, dropped afterwards with its role."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STACK_PY = REPO / "scripts" / "stack.py"
sys.path.insert(0, str(REPO / "scripts"))

from stack_database import drop_database  # noqa: E402

POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1/prominence_bench")


@dataclass
class BenchStack:
    home: Path
    env: dict[str, str]
    # The interpreter and stack.py this stack is run with (bench/idle.py runs another tree's too).
    command: tuple[str, str] = (sys.executable, str(STACK_PY))

    @property
    def url(self) -> str:
        return self.env["PROMINENCE_URL"]

    @property
    def sample_image(self) -> str:
        for line in (self.home / "env").read_text().splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            if key == "SAMPLE_IMAGE":
                return value
        raise KeyError("SAMPLE_IMAGE")

    def stack_py(self, *args: str) -> str:
        done = subprocess.run([*self.command, *args], env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"stack.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def token(self, user: str) -> str:
        return self.stack_py("token", user)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def fresh_stack(extra_env: dict[str, str] | None = None, stack_py: tuple[str, str] | None = None) -> Iterator[BenchStack]:
    """`extra_env` configures the stack beyond its defaults (e.g. Celery mode, bench/executors.py);
    `stack_py` is (python, stack.py) of another tree."""
    home = Path(tempfile.mkdtemp(prefix="prominence-bench-"))
    env = {
        **os.environ,
        **(extra_env or {}),
        "PROMINENCE_HOME": str(home),
        "PROMINENCE_PORT": str(free_port()),
        "PROMINENCE_REGISTRY": f"127.0.0.1:{free_port()}",
        "PROMINENCE_S3_PORT": str(free_port()),
    }
    stack = BenchStack(home, env, *([stack_py] if stack_py else []))
    try:
        stack.stack_py("up")
        stack.env.update(json.loads(stack.stack_py("env", "--json")))
        yield stack
    finally:
        stack.stack_py("down")


@contextmanager
def fresh_postgres_stack(extra_env: dict[str, str] | None = None) -> Iterator[BenchStack]:
    """`fresh_stack` on a database of its own (`<BENCH_POSTGRES_URL>_<hex>`), dropped afterwards with its role."""
    url = f"{POSTGRES_URL}_{secrets.token_hex(4)}"
    try:
        with fresh_stack({**(extra_env or {}), "PROMINENCE_DATABASE_URL": url}) as stack:
            yield stack
    finally:
        drop_database(url)
