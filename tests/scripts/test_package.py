"""The installed package tells Airflow about its hook: a data engineer's own Airflow, with
`pip install .` done, offers the `prominence` connection type for ProminenceJobOperator."""

from importlib.metadata import entry_points


def test_the_provider_entry_point_is_discoverable():
    (provider,) = [ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("prominence.")]
    info = provider.load()()
    assert info["package-name"] == provider.dist.name
    assert info["versions"] == [provider.dist.version]


def test_airflow_lists_the_prominence_connection_type():
    """What the UI's connection form offers (the api-server's hook metadata service)."""
    # Airflow's providers manager loads only in the one test that needs it.
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.module_loading import import_string

    manager = ProvidersManager()
    assert "prominence-airflow" in manager.providers
    offered = {meta.connection_type: meta for meta in manager.iter_connection_type_hook_ui_metadata()}
    assert (offered["prominence"].hook_name, offered["prominence"].hook_class_name) == (
        "PROMINENCE",
        "prominence.hooks.prominence.ProminenceHook",
    )
    assert import_string(offered["prominence"].hook_class_name).conn_type == "prominence"
