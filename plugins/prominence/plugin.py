"""The Airflow plugin: mounts the PROMINENCE REST app in the api-server, listens for finished runs."""

from __future__ import annotations

from functools import cache

from airflow.plugins_manager import AirflowPlugin

from prominence.auth.tokens import signing_secret
from prominence.config import get_settings
from prominence.scheduler import listener


@cache
def _rest_apps() -> list[dict]:
    signing_secret()  # the api-server refuses to start without its signing key
    # The REST app (and the api-server code under it) loads only where Airflow asks for it.
    from prominence.rest.app import create_app

    return [{"app": create_app(), "url_prefix": get_settings().url_prefix, "name": "PROMINENCE REST API"}]


class _RestApps:
    """Only the api-server reads `fastapi_apps`: every other process that loads the plugin (the
    scheduler, the triggerer, each task process) never imports the REST app."""

    def __get__(self, instance, owner) -> list[dict]:
        return _rest_apps()


class ProminencePlugin(AirflowPlugin):
    name = "prominence"
    fastapi_apps = _RestApps()
    listeners = [listener]
    # The PROMINENCE page in the UI's navigation: an iframe of the REST app's page (rest/ui.py).
    external_views = [
        {
            "name": "PROMINENCE",
            "href": f"{get_settings().url_prefix}/ui/",
            "url_route": "prominence",
            "destination": "nav",
            "nav_top_level": True,
        }
    ]
