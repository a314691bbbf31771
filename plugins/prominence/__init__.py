"""PROMINENCE on Apache Airflow: the REST API, the job engine and its operators."""
