"""The installed package tells Airflow about its hook: a data engineer's own Airflow, with
`pip install .` done, offers the `prominence` connection type for ProminenceJobOperator."""

from importlib.metadata import entry_points


def test_the_provider_entry_point_is_discoverable():
    (provider,) = [ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("prominence.")]
    info = provider.load()()
    assert info["package-name"] == provider.dist.name
    assert info["versions"] == [provider.dist.version]


def test_airflow_lists_the_prominence_connection_type():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "prominence-airflow" in manager.providers
    hook = manager.hooks["prominence"]
    assert hook is not None
    assert (hook.connection_type, hook.hook_class_name, hook.connection_id_attribute_name) == (
        "prominence",
        "prominence.hooks.prominence.ProminenceHook",
        "prominence_conn_id",
    )
