"""The Airflow UI's login settings: Airflow's own users unless the UI has a client at the provider."""

from __future__ import annotations

import pytest
from flask_appbuilder.const import AUTH_DB, AUTH_OAUTH

from prominence.auth.ui_login import USER_ROLE, fab_settings
from prominence.config import get_settings


@pytest.fixture
def settings(monkeypatch):
    def use(**values: str) -> dict:
        for name, value in values.items():
            monkeypatch.setenv(f"PROMINENCE_{name.upper()}", value)
        get_settings.cache_clear()
        return fab_settings()

    yield use
    get_settings.cache_clear()


def test_without_a_ui_client_the_ui_keeps_airflows_own_users(settings):
    assert settings(oidc_url="https://login.example.org")["AUTH_TYPE"] == AUTH_DB


def test_with_a_ui_client_people_log_in_through_the_provider(settings):
    fab = settings(
        oidc_url="https://login.example.org/",
        oidc_ui_client_id="airflow-ui",
        oidc_ui_client_secret="s3cret",
        ui_admin_group="admins",
    )
    assert (fab["AUTH_TYPE"], fab["AUTH_USER_REGISTRATION"], fab["AUTH_USER_REGISTRATION_ROLE"]) == (AUTH_OAUTH, True, USER_ROLE)
    assert fab["AUTH_ROLES_MAPPING"] == {"admins": ["Admin"]}
    [provider] = fab["OAUTH_PROVIDERS"]
    assert provider["remote_app"]["server_metadata_url"] == "https://login.example.org/.well-known/openid-configuration"
    assert (provider["remote_app"]["client_id"], provider["remote_app"]["client_secret"]) == ("airflow-ui", "s3cret")
