"""Downloads of http(s) artifacts (spec §13.3): retried, bounded, never left half-written."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

ATTEMPTS = 3
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 120.0


class FetchError(Exception):
    """The artifact could not be downloaded: `Artifact download failed`."""


def download_url(url: str, dest: Path, max_bytes: int, *, attempts: int = ATTEMPTS) -> None:
    """GET `url` into `dest`. Connection errors and 5xx are retried with a linear back-off; a
    4xx is final (it will not change); more than `max_bytes` fails. A failed attempt leaves no file."""
    timeout = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
    for attempt in range(1, attempts + 1):
        try:
            with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
                if response.status_code >= 400:
                    raise FetchError(f"{url}: HTTP {response.status_code}")
                written = 0
                with open(dest, "wb") as out:
                    for chunk in response.iter_bytes(1024 * 1024):
                        written += len(chunk)
                        if written > max_bytes:
                            raise FetchError(f"{url}: larger than the job's disk")
                        out.write(chunk)
            return
        except (httpx.HTTPError, OSError, FetchError) as exc:
            dest.unlink(missing_ok=True)
            final = isinstance(exc, FetchError) and "HTTP 5" not in str(exc)
            if final or attempt == attempts:
                raise exc if isinstance(exc, FetchError) else FetchError(f"{url}: {exc}") from exc
            time.sleep(attempt)
