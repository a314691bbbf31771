"""Give unit tests a signing key and register the test markers (`prominence` itself is installed:
`pip install -e .`)."""

import os
import secrets

import pytest

# Unit tests sign and check tokens in-process; the stack generates its own key at `up`.
os.environ.setdefault("PROMINENCE_JOB_TOKEN_SECRET", secrets.token_urlsafe(32))


def pytest_configure(config):
    config.addinivalue_line("markers", "integration: needs a running Airflow / external services")


@pytest.fixture(scope="session", autouse=True)
def job_uids_pass_through_temporary_directories(tmp_path_factory):
    """Containers run as job uids, which must traverse pytest's 0700 directories to a sandbox."""
    base = tmp_path_factory.getbasetemp()
    for directory in (base, base.parent):
        directory.chmod(directory.stat().st_mode | 0o111)
