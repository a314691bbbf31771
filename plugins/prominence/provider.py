"""What Airflow's ProvidersManager learns about this package from its `apache_airflow_provider`
entry point: the hook behind `ProminenceJobOperator` and its connection type `prominence`."""

from __future__ import annotations

from importlib.metadata import version

PACKAGE = "prominence-airflow"


def get_provider_info() -> dict:
    return {
        "package-name": PACKAGE,
        "name": "PROMINENCE",
        "description": "Batch jobs and workflows in containers through the PROMINENCE REST API.",
        "versions": [version(PACKAGE)],
        "connection-types": [
            {
                "connection-type": "prominence",
                "hook-class-name": "prominence.hooks.prominence.ProminenceHook",
                "hook-name": "PROMINENCE",
            },
        ],
    }
