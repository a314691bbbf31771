"""docs/api.md is what scripts/api_docs.py makes of api/openapi.yaml, and it leaves nothing out."""

import yaml

from scripts.api_docs import SOURCE, TARGET, render


def test_committed_api_reference_matches_the_openapi_document():
    assert TARGET.read_text() == render(), "docs/api.md is stale: run `.venv/bin/python scripts/api_docs.py`"


def test_every_operation_and_status_code_is_described():
    document = yaml.safe_load(SOURCE.read_text())
    sections = render(document).split("\n## ")
    for path, item in document["paths"].items():
        for method, op in item.items():
            section = next(s for s in sections if s.startswith(f"{method.upper()} {path}\n"))
            for status in op["responses"]:
                assert f"\n| {status} |" in section, f"{method} {path} lacks {status}"


def test_inlined_models_are_described_once_and_linked():
    model = {
        "title": "Job",
        "type": "object",
        "properties": {"tasks": {"type": "array", "items": {"$ref": "#/$defs/Task"}}},
        "required": ["tasks"],
        "$defs": {"Task": {"title": "Task", "type": "object", "properties": {"cmd": {"type": "string", "maxLength": 9}}}},
    }
    document = {
        "info": {"title": "T", "version": "1"},
        "paths": {
            "/jobs": {
                "post": {
                    "summary": "Create",
                    "parameters": [{"name": "dry", "in": "query", "schema": {"type": "boolean", "default": False}}],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": model}}},
                    "responses": {"201": {"description": "Created"}},
                }
            }
        },
    }
    text = render(document)
    assert "| `dry` | query | boolean | no | default `false` |" in text
    assert "Request body (required): `application/json` [Job](#job)" in text
    assert "| `tasks` | array of [Task](#task) | yes |  |" in text
    assert "| `cmd` | string | no | max length `9` |" in text
    assert text.count("### Task\n") == 1
