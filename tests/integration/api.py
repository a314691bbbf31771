"""A small client of the PROMINENCE API for integration tests: raw HTTP, as any client sends it."""

from __future__ import annotations

import time
from typing import Any

import httpx

from prominence.contract.states import TERMINAL
from tests.integration import leaks

# The loopback address of the tests' own artifact server, the one the stack allow-lists for stage-in.
ARTIFACT_HOST = "127.0.0.2"


class Api:
    def __init__(self, url: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            event_hooks={"response": [leaks.check_answer]},
        )

    def submit(self, job: dict[str, Any]) -> int:
        response = self.client.post("/jobs", json=job)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def describe(self, job_id: int) -> dict[str, Any]:
        response = self.client.get(f"/jobs/{job_id}")
        assert response.status_code == 200, response.text
        assert len(response.json()) == 1, response.text
        return response.json()[0]

    def wait(self, job_id: int, states=TERMINAL, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job = self.describe(job_id)
            if job["status"] in states or time.monotonic() > deadline:
                assert job["status"] in states, job
                return job
            time.sleep(0.2)

    def stdout(self, job_id: int, stream: str = "stdout", offset: int = 0) -> str:
        response = self.client.get(f"/jobs/{job_id}/{stream}", params={"offset": offset})
        assert response.status_code == 200, response.text
        return response.text

    def ids(self, path: str = "/jobs", **params: Any) -> list[int]:
        response = self.client.get(path, params=params)
        assert response.status_code == 200, response.text
        return sorted(job["id"] for job in response.json())


def job(image: str, cmd: str | None = None, runtime: str = "singularity", **extra: Any) -> dict[str, Any]:
    """A one-task job as the CLI would send it, with `extra` top-level fields."""
    task: dict[str, Any] = {"image": image, "runtime": runtime}
    if cmd is not None:
        task["cmd"] = cmd
    body: dict[str, Any] = {"resources": {"nodes": 1, "cpus": 1, "memory": 1, "disk": 10}, "name": "", "tasks": [task]}
    body.update(extra)
    return body
