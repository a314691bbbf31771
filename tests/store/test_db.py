"""Where our tables live: beside an SQLite Airflow database, inside any other, or where configured."""

import pytest

from prominence.config import get_settings
from prominence.store.db import store_url


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch):
    monkeypatch.delenv("PROMINENCE_STORE_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_an_sqlite_airflow_database_gets_a_file_beside_it():
    assert store_url("sqlite:////srv/prominence/airflow/airflow.db") == "sqlite:////srv/prominence/airflow/prominence.db"


@pytest.mark.parametrize("url", ["postgresql+psycopg2://airflow:secret@db/airflow", "sqlite://", "sqlite:///:memory:"])
def test_other_databases_hold_our_tables_themselves(url):
    assert store_url(url) is None


def test_a_configured_store_wins(monkeypatch):
    monkeypatch.setenv("PROMINENCE_STORE_URL", "postgresql://elsewhere/ours")
    get_settings.cache_clear()
    assert store_url("sqlite:////srv/airflow.db") == "postgresql://elsewhere/ours"
