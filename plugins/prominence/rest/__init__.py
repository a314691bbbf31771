"""The PROMINENCE REST API (FastAPI), mounted in the Airflow api-server by the plugin."""
