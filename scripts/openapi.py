#!/usr/bin/env python3
"""Write api/openapi.yaml from the FastAPI app (`make openapi`); a test fails when it drifts."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
TARGET = REPO / "api" / "openapi.yaml"


def render() -> str:
    # The app is built only when rendering, with the settings of this process's environment.
    from prominence.config import get_settings
    from prominence.rest.app import create_app

    document = create_app().openapi()
    document["servers"] = [{"url": get_settings().url_prefix}]
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


if __name__ == "__main__":
    TARGET.write_text(render())
    print(f"wrote {TARGET.relative_to(REPO)}")
