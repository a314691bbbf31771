"""The PROMINENCE hook: every call a DAG (or a workflow node) makes to our REST API goes through here.

Where and as whom come from an Airflow Connection, `prominence_default` unless told otherwise,
of type `http`: `host` is the API's base URL (e.g. `http://127.0.0.1:8080/prominence/v1`) and
`password` a bearer token (`make token USER=alice`). Jobs a DAG starts belong to the token's user,
so a connection per user is how a DAG runs jobs as someone else. The stack defines
`prominence_default` itself (AIRFLOW_CONN_PROMINENCE_DEFAULT, see scripts/stack.py).

Workflow nodes pass `base_url` and `token` directly: they act with their workflow's own token.
"""

from __future__ import annotations

from typing import Any

import httpx
from airflow.sdk import BaseHook

TIMEOUT_SECONDS = 60.0


class ProminenceError(Exception):
    """The API refused a request (a 4xx): sending it again would not help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"PROMINENCE API answered {status}: {message}")
        self.status = status


def base_url_of(connection: Any) -> str:
    """The API's base URL from a connection: `host` as a full URL, or scheme, host and port."""
    host = (connection.host or "").rstrip("/")
    if "://" in host:
        return host
    port = f":{connection.port}" if connection.port else ""
    return f"{connection.schema or 'http'}://{host}{port}/prominence/v1"


def refused(response: httpx.Response) -> ProminenceError:
    try:
        message = response.json().get("error", response.text)
    except (ValueError, AttributeError):
        message = response.text
    return ProminenceError(response.status_code, message)


class ProminenceHook(BaseHook):
    conn_name_attr = "prominence_conn_id"
    default_conn_name = "prominence_default"
    conn_type = "prominence"
    hook_name = "PROMINENCE"

    def __init__(
        self,
        prominence_conn_id: str = default_conn_name,
        *,
        base_url: str | None = None,
        token: str | None = None,
    ) -> None:
        super().__init__()
        self.prominence_conn_id = prominence_conn_id
        self.base_url = base_url
        self.token = token

    def _client_kwargs(self, base_url: str, token: str | None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return {"base_url": base_url, "headers": headers, "timeout": TIMEOUT_SECONDS}

    def get_conn(self) -> httpx.Client:
        """A client of the API (the caller closes it)."""
        if self.base_url is not None:
            return httpx.Client(**self._client_kwargs(self.base_url, self.token))
        connection = self.get_connection(self.prominence_conn_id)
        return httpx.Client(**self._client_kwargs(base_url_of(connection), connection.password))

    async def get_async_conn(self) -> httpx.AsyncClient:
        """An async client of the API, for triggers (the caller closes it)."""
        if self.base_url is not None:
            return httpx.AsyncClient(**self._client_kwargs(self.base_url, self.token))
        connection = await self.aget_connection(self.prominence_conn_id)
        return httpx.AsyncClient(**self._client_kwargs(base_url_of(connection), connection.password))

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self.get_conn() as client:
            response = client.request(method, path, **kwargs)
        if 400 <= response.status_code < 500:
            raise refused(response)
        response.raise_for_status()
        return response

    def submit_job(self, job: dict[str, Any]) -> int:
        """Create a job (spec §6 `POST /jobs`) and return its id."""
        return int(self._call("POST", "/jobs", json=job).json()["id"])

    def describe_job(self, job_id: int) -> dict[str, Any] | None:
        """The job with its execution details, or None when the caller has no such job."""
        found = self._call("GET", f"/jobs/{job_id}").json()
        return found[0] if found else None

    def job_output(self, job_id: int, stream: str = "stdout") -> str:
        """The job's whole stdout (or stderr) as text."""
        return self._call("GET", f"/jobs/{job_id}/{stream}", params={"offset": 0}).text

    def delete_job(self, job_id: int) -> None:
        self._call("DELETE", f"/jobs/{job_id}")
