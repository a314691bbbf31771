"""Make `prominence` importable from plugins/ and register the test markers."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))


def pytest_configure(config):
    config.addinivalue_line("markers", "integration: needs a running Airflow / external services")
