"""Give unit tests a signing key and register the test markers (`prominence` itself is installed:
`pip install -e .`)."""

import os
import secrets

# Unit tests sign and check tokens in-process; the stack generates its own key at `up`.
os.environ.setdefault("PROMINENCE_JOB_TOKEN_SECRET", secrets.token_urlsafe(32))


def pytest_configure(config):
    config.addinivalue_line("markers", "integration: needs a running Airflow / external services")
    config.addinivalue_line("markers", "celery: needs the Celery stack (PROMINENCE_EXECUTOR=celery)")
