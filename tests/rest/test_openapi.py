"""The committed OpenAPI document is the one the app generates."""

from scripts.openapi import TARGET, render


def test_committed_openapi_matches_the_app():
    assert TARGET.read_text() == render(), "api/openapi.yaml is stale: run `make openapi`"
