"""The Airflow plugin: mounts the PROMINENCE REST app in the api-server, listens for finished runs."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from prominence.config import get_settings
from prominence.scheduler import listener
from prominence.rest.app import create_app


class ProminencePlugin(AirflowPlugin):
    name = "prominence"
    fastapi_apps = [
        {"app": create_app(), "url_prefix": get_settings().url_prefix, "name": "PROMINENCE REST API"}
    ]
    listeners = [listener]
