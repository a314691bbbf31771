"""The REST app on an in-memory database, with the caller chosen per request (`as_user`)."""

from __future__ import annotations

from contextlib import contextmanager

import boto3
import pytest
from fastapi.testclient import TestClient
from moto import mock_aws
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from prominence.auth.identity import Identity
from prominence.config import get_settings
from prominence.engine import resources, runs, workflow_events
from prominence.rest import job_views
from prominence.rest.app import create_app
from prominence.rest.deps import current_identity, sessions
from prominence.storage.s3 import get_store
from prominence.store.tables import metadata


@pytest.fixture
def engine():
    engine = create_engine("sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool)
    metadata.create_all(engine)
    return engine


@pytest.fixture
def app(engine, monkeypatch):
    # Airflow's tables are not in the test's database: the pool's figures (GET /resources,
    # admission) see no runs and the configured cpus.
    monkeypatch.setattr(runs, "run_confs", lambda session, job_ids: {})
    monkeypatch.setattr(resources, "pool_slots", lambda session: get_settings().worker_cpus)
    # The api-server's workflow-release thread would outlive the test and its database.
    monkeypatch.setattr(workflow_events.watcher, "start", lambda: None)
    # Each test's database reuses ids and uuids: entries rendered for another's must not be found.
    monkeypatch.setattr(job_views, "rendered", job_views.RenderedEntries())

    @contextmanager
    def scope():
        with Session(engine) as session, session.begin():
            yield session

    app = create_app()
    app.dependency_overrides[sessions] = lambda: scope
    return app


@pytest.fixture
def client(app):
    return TestClient(app, base_url="http://test")


@pytest.fixture
def as_user(app):
    """Make every following request come from `username` (a user token, or a job's)."""

    def use(username: str, groups: str = "", job: str | None = None) -> None:
        app.dependency_overrides[current_identity] = lambda: Identity(username, groups, job)

    return use


@pytest.fixture
def s3(monkeypatch):
    """An empty moto S3 in place of the stack's; `bucket()` creates the bucket."""
    monkeypatch.setattr(get_settings(), "s3_access_key", "test")
    monkeypatch.setattr(get_settings(), "s3_secret_key", "test")
    with mock_aws():
        get_store.cache_clear()
        yield lambda: boto3.client("s3", region_name=get_settings().s3_region).create_bucket(Bucket=get_settings().s3_bucket)
    get_store.cache_clear()
