"""Give unit tests a signing key and register the test markers (`prominence` itself is installed:
`pip install -e .`)."""

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Unit tests sign and check tokens in-process; the stack generates its own key at `up`.
os.environ.setdefault("PROMINENCE_JOB_TOKEN_SECRET", secrets.token_urlsafe(32))


def pytest_configure(config):
    config.addinivalue_line("markers", "integration: needs a running Airflow / external services")


@pytest.fixture(scope="session")
def reachable_tmp() -> Iterator[Path]:
    """A temporary directory that job uids can pass through (0711) to sandboxes in it: pytest's
    own root is 0700, and every pytest session starting on the machine makes it so again."""
    path = Path(tempfile.mkdtemp(prefix="prominence-tests-"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)
