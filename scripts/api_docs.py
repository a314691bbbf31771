#!/usr/bin/env python3
"""Write docs/api.md, the API reference, from api/openapi.yaml; a test fails when it drifts.

The reference is generated so that it can only say what the served API says: every path and
method with its summary, parameters, request body and responses, then every schema they name.
It needs only PyYAML (installed with Airflow), so it runs in the project's venv, and its output
depends on the document alone (paths in the document's order, schemas sorted by name).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "api" / "openapi.yaml"
TARGET = REPO / "docs" / "api.md"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
CONSTRAINTS = {
    "default": "default",
    "minimum": "≥",
    "exclusiveMinimum": ">",
    "maximum": "≤",
    "exclusiveMaximum": "<",
    "minLength": "min length",
    "maxLength": "max length",
    "minItems": "min items",
    "maxItems": "max items",
    "pattern": "pattern",
}
INTRO = """\
Every route except `GET /health` needs a bearer token, `Authorization: Bearer <token>` (see the
README's "The REST API" for where tokens come from). A refused request answers with its status
code and a JSON body `{{"error": "<message>"}}`. Paths are relative to the base path `{base}`."""


def render(document: dict[str, Any] | None = None) -> str:
    document = document if document is not None else yaml.safe_load(SOURCE.read_text())
    schemas = dict(document.get("components", {}).get("schemas", {}))
    operations = [
        (path, method, hoist(op, schemas))
        for path, item in document.get("paths", {}).items()
        for method, op in item.items()
        if method in METHODS
    ]
    info = document.get("info", {})
    base = (document.get("servers") or [{"url": "/"}])[0]["url"]
    lines = [
        f"# {info.get('title', 'API')} REST API (version {info.get('version', '?')})",
        "",
        "<!-- Generated from api/openapi.yaml by scripts/api_docs.py: do not edit by hand. -->",
        "",
        INTRO.format(base=base),
        "",
        *contents(operations),
    ]
    for path, method, op in operations:
        lines += operation_section(path, method, op, document)
    lines += ["## Schemas", ""]
    for name in sorted(schemas):
        lines += schema_section(name, schemas[name])
    return "\n".join(lines).rstrip("\n") + "\n"


def hoist(op: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """Move the named models an operation inlines (pydantic's `$defs`, titled objects) into
    `schemas`, so that each is described once and linked from where it is used."""

    def named(schema: dict[str, Any]) -> dict[str, Any]:
        schema = walk(schema)
        if "properties" in schema and "title" in schema:
            register(schema["title"], schema)
            return {"$ref": f"#/components/schemas/{schema['title']}"}
        return schema

    def walk(schema: dict[str, Any]) -> dict[str, Any]:
        for name, definition in schema.get("$defs", {}).items():
            register(name, walk(definition))
        result = {key: value for key, value in schema.items() if key != "$defs"}
        if "properties" in schema:
            result["properties"] = {field: named(value) for field, value in schema["properties"].items()}
        for key in ("items", "additionalProperties", "not"):
            if isinstance(schema.get(key), dict):
                result[key] = named(schema[key])
        for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            if key in schema:
                result[key] = [named(part) for part in schema[key]]
        return result

    def register(name: str, definition: dict[str, Any]) -> None:
        if schemas.setdefault(name, definition) != definition:
            raise ValueError(f"two different schemas are both named {name!r}")

    def with_schemas(content: dict[str, Any]) -> dict[str, Any]:
        return {kind: {**entry, "schema": named(entry.get("schema", {}))} for kind, entry in content.items()}

    op = dict(op)
    op["parameters"] = [{**p, "schema": walk(p["schema"])} if "schema" in p else p for p in op.get("parameters", [])]
    if "content" in op.get("requestBody", {}):
        op["requestBody"] = {**op["requestBody"], "content": with_schemas(op["requestBody"]["content"])}
    op["responses"] = {
        status: {**response, "content": with_schemas(response["content"])} if "content" in response else response
        for status, response in op.get("responses", {}).items()
    }
    return op


def contents(operations: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    """The operations grouped by their first tag, in the document's order."""
    groups: dict[str, list[str]] = {}
    for path, method, op in operations:
        tag = (op.get("tags") or ["general"])[0]
        title = f"{method.upper()} {path}"
        groups.setdefault(tag, []).append(f"  - [`{title}`](#{anchor(title)}) {op.get('summary', '')}".rstrip())
    lines = ["## Contents", ""]
    for tag, entries in groups.items():
        lines += [f"- {tag}", *entries]
    return lines + ["- [Schemas](#schemas)", ""]


def operation_section(path: str, method: str, op: dict[str, Any], document: dict[str, Any]) -> list[str]:
    title = f"{method.upper()} {path}"
    lines = [f"## {title}", ""]
    if op.get("summary"):
        lines += [f"**{op['summary']}**", ""]
    if op.get("description"):
        lines += [one_line(op["description"]), ""]
    parameters = [resolve(p, document) for p in op.get("parameters", [])]
    if parameters:
        lines += ["| parameter | in | type | required | description |", "|---|---|---|---|---|"]
        for p in parameters:
            schema = p.get("schema", {})
            about = details(p.get("description") or schema.get("description"), schema)
            required = "yes" if p.get("required") else "no"
            lines.append(f"| `{p['name']}` | {p['in']} | {type_of(schema)} | {required} | {cell(about)} |")
        lines.append("")
    body = resolve(op["requestBody"], document) if "requestBody" in op else None
    if body:
        required = "required" if body.get("required") else "optional"
        lines += [f"Request body ({required}): " + media(body.get("content", {})), ""]
    lines += ["| status | meaning | body |", "|---|---|---|"]
    for status, response in op.get("responses", {}).items():
        response = resolve(response, document)
        content = media(response.get("content", {})) if response.get("content") else "none"
        lines.append(f"| {status} | {cell(response.get('description', ''))} | {content} |")
    return lines + [""]


def schema_section(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"### {name}", ""]
    if schema.get("description"):
        lines += [one_line(schema["description"]), ""]
    properties = schema.get("properties")
    if not properties:
        return lines + [f"Type: {type_of({k: v for k, v in schema.items() if k != 'title'})}.", ""]
    required = set(schema.get("required", []))
    lines += ["| field | type | required | description |", "|---|---|---|---|"]
    for field, spec in properties.items():
        about = details(spec.get("description"), spec)
        lines.append(f"| `{field}` | {type_of(spec)} | {'yes' if field in required else 'no'} | {cell(about)} |")
    if schema.get("additionalProperties") is False:
        lines += ["", "No other field is accepted."]
    return lines + [""]


def media(content: dict[str, Any]) -> str:
    return "; ".join(f"`{kind}` {type_of(entry.get('schema', {}))}" for kind, entry in content.items())


def type_of(schema: dict[str, Any]) -> str:
    """A schema as a short phrase; named schemas become links to their section."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{anchor(name)})"
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in schema:
            joiner = " and " if combinator == "allOf" else " or "
            return joiner.join(type_of(part) for part in schema[combinator])
    if "const" in schema:
        return f"`{json_value(schema['const'])}`"
    if "enum" in schema:
        return "one of " + ", ".join(f"`{json_value(value)}`" for value in schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(type_of({**schema, "type": one}) for one in kind)
    if kind == "array":
        return f"array of {grouped(type_of(schema['items']))}" if schema.get("items") else "array"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"object of {grouped(type_of(schema['additionalProperties']))}"
    if kind:
        return f"{kind} ({schema['format']})" if "format" in schema else kind
    return "any"


def grouped(phrase: str) -> str:
    """Parentheses where a nested alternative would read ambiguously: `array of (a or b)`."""
    return f"({phrase})" if " or " in phrase or " and " in phrase else phrase


def details(description: str | None, schema: dict[str, Any]) -> str:
    limits = [f"{label} `{limit(key, schema[key])}`" for key, label in CONSTRAINTS.items() if key in schema]
    return "; ".join(filter(None, [one_line(description or ""), ", ".join(limits)]))


def resolve(node: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """Follow a local `$ref` to a parameter, request body or response defined under components."""
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def anchor(title: str) -> str:
    """The id GitHub and most Markdown renderers give a heading."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def one_line(text: str) -> str:
    return " ".join(text.split())


def cell(text: str) -> str:
    return one_line(text).replace("|", "\\|")


def limit(key: str, value: Any) -> str:
    """A pattern as written (a regular expression), any other value as JSON."""
    return value if key == "pattern" else json_value(value)


def json_value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


if __name__ == "__main__":
    TARGET.write_text(render())
    print(f"wrote {TARGET.relative_to(REPO)}")
