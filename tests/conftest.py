"""Register the test markers (`prominence` itself is installed: `pip install -e .`)."""


def pytest_configure(config):
    config.addinivalue_line("markers", "integration: needs a running Airflow / external services")
