"""Make `prominence` importable from plugins/, give unit tests a signing key, register the markers."""

import os
import secrets
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))
# Unit tests sign and check tokens in-process; the stack generates its own key at `up`.
os.environ.setdefault("PROMINENCE_JOB_TOKEN_SECRET", secrets.token_urlsafe(32))


def pytest_configure(config):
    config.addinivalue_line("markers", "integration: needs a running Airflow / external services")
