"""Entry point Airflow loads from the plugins folder; the plugin itself is prominence.plugin."""

from prominence.plugin import ProminencePlugin  # noqa: F401
