"""The Airflow UI's login (FAB auth manager) through the OIDC provider the API trusts.

The generated `webserver_config.py` (scripts/stack.py) applies `fab_settings()`. A person who logs
in becomes the same user name as their API tokens (the same claims, the same entitlement rules)
and has the role USER_ROLE, which sees no DAG, and their own role (`owner_role`), which their
workflows' DAGs let read them and their runs; docs/ui.md says why. Imported only by the
api-server's FAB app.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.fab.auth_manager.security_manager.override import FabAirflowSecurityManagerOverride
from flask_appbuilder.const import AUTH_DB, AUTH_OAUTH

from prominence.auth.caller import AuthError
from prominence.auth.oidc import identity_from_claims
from prominence.config import get_settings
from prominence.contract.workflows import owner_role

PROVIDER = "prominence"
USER_ROLE = "ProminenceUser"
# What USER_ROLE may do in Airflow: open the UI, its own profile, and the plugins' pages; read
# what the UI shows of a DAG (runs, versions, warnings, tasks, logs), but only of the DAGs a role
# of the user may read (the FAB auth manager checks both): no DAG itself, as every job is a run
# of one shared DAG.
USER_ROLE_PERMISSIONS = [
    ("can_read", "Website"),
    ("can_read", "My Profile"),
    ("can_edit", "My Profile"),
    ("can_read", "Plugins"),
    ("can_read", "DAG Runs"),
    ("can_read", "DAG Versions"),
    ("can_read", "DAG Warnings"),
    ("can_read", "HITL Detail"),
    ("can_read", "Task Instances"),
    ("can_read", "Task Logs"),
]


class ProminenceSecurityManager(FabAirflowSecurityManagerOverride):
    """FAB's security manager, reading the OIDC provider's userinfo like the API does."""

    def sync_roles(self) -> None:
        super().sync_roles()
        self.bulk_sync_roles([{"role": USER_ROLE, "perms": USER_ROLE_PERMISSIONS}])

    def _oauth_calculate_user_roles(self, userinfo: dict[str, Any]) -> list:
        """At each login: the mapped roles, USER_ROLE, and the user's own role."""
        roles = list(super()._oauth_calculate_user_roles(userinfo))
        if userinfo.get("username"):
            roles.append(self.add_role(owner_role(userinfo["username"])))
        return roles

    def get_oauth_user_info(self, provider: str, resp: dict[str, Any]) -> dict[str, Any]:
        if provider != PROVIDER:
            return super().get_oauth_user_info(provider, resp)
        claims = self.oauth_remotes[provider].userinfo(token=resp)
        try:
            identity = identity_from_claims(dict(claims), get_settings())
        except AuthError:
            return {}  # FAB refuses a login without a user name
        return {
            "username": identity.username,
            "email": claims.get("email") or f"{identity.username}@localhost",
            "first_name": claims.get("given_name") or identity.username,
            "last_name": claims.get("family_name") or "",
            "role_keys": identity.group_list,
        }


def fab_settings() -> dict[str, Any]:
    """FAB's settings: OAuth through the provider when PROMINENCE_OIDC_URL and the UI's client are
    configured, else Airflow's own user database."""
    settings = get_settings()
    # As in Airflow's default webserver_config.py: forms carry a CSRF token valid for the session.
    forms = {"WTF_CSRF_ENABLED": True, "WTF_CSRF_TIME_LIMIT": None}
    if not (settings.oidc_url and settings.oidc_ui_client_id and settings.oidc_ui_client_secret):
        return {**forms, "AUTH_TYPE": AUTH_DB}
    issuer = settings.oidc_url.rstrip("/")
    return {
        **forms,
        "AUTH_TYPE": AUTH_OAUTH,
        "SECURITY_MANAGER_CLASS": ProminenceSecurityManager,
        "AUTH_USER_REGISTRATION": True,
        "AUTH_USER_REGISTRATION_ROLE": USER_ROLE,
        "AUTH_ROLES_SYNC_AT_LOGIN": True,
        "AUTH_ROLES_MAPPING": {settings.ui_admin_group: ["Admin"]} if settings.ui_admin_group else {},
        "OAUTH_PROVIDERS": [
            {
                "name": PROVIDER,
                "icon": "fa-openid",
                "token_key": "access_token",
                "remote_app": {
                    "client_id": settings.oidc_ui_client_id,
                    "client_secret": settings.oidc_ui_client_secret.get_secret_value(),
                    "server_metadata_url": f"{issuer}/.well-known/openid-configuration",
                    "client_kwargs": {"scope": "openid profile email"},
                },
            }
        ],
    }
