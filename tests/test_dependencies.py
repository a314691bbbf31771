"""The frozen dependency set keeps every Airflow executor the platform documents importable."""

import importlib

import pytest


@pytest.mark.parametrize(
    "module, name",
    [
        ("airflow.executors.local_executor", "LocalExecutor"),
        ("airflow.providers.celery.executors.celery_executor", "CeleryExecutor"),
        ("airflow.providers.cncf.kubernetes.operators.pod", "KubernetesPodOperator"),
    ],
)
def test_executor_and_operator_modules_import(module, name):
    assert isinstance(getattr(importlib.import_module(module), name), type)
