"""Where a task's image comes from (spec §3.3, §13.5), decided the same way by the api-server
(which checks that an uploaded image exists) and by the worker (which fetches it)."""

from __future__ import annotations

from urllib.parse import urlsplit

REGISTRY = "registry"
URL = "url"
UPLOAD = "upload"
# Spec §3.3: an image naming an object of the user's data area has one of these in its name.
UPLOAD_MARKERS = (".tar", ".tgz", ".simg", ".sif")


def image_kind(image: str) -> str:
    """`url` (an http(s) URL of a SIF or a `docker save` archive), `upload` (the name of an
    uploaded object) or `registry` (a registry reference, `shub://` and the like included)."""
    if urlsplit(image).scheme in ("http", "https"):
        return URL
    if "http" not in image and "://" not in image and not image.startswith("/"):
        if any(marker in image for marker in UPLOAD_MARKERS):
            return UPLOAD
    return REGISTRY
