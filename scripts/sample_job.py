#!/usr/bin/env python3
"""Submit one sample job through the REST API, wait for it, print its status and stdout.

The last step of `make run`: proof that the stack works end to end (REST app, scheduler,
runtime, local registry) with nothing but HTTP, the way the CLI talks to it.
Usage: sample_job.py [--user alice] [--runtime singularity|udocker] [--timeout 120]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from stack_config import Stack, stack_env

TERMINAL = {"completed", "failed", "killed", "deleted"}


def call(method: str, url: str, token: str, body: dict | None = None) -> bytes:
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None)
    request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read()
    except urllib.error.HTTPError as e:
        sys.exit(f"{method} {url}: HTTP {e.code} {e.read().decode(errors='replace')}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--user", default="alice")
    parser.add_argument("--runtime", default="singularity")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()

    env = stack_env(Stack.load())
    url = env["PROMINENCE_URL"]
    stack_py = Path(__file__).with_name("stack.py")
    token = subprocess.run([sys.executable, str(stack_py), "token", args.user], check=True, capture_output=True, text=True).stdout
    job = {
        "name": "hello",
        "resources": {"nodes": 1, "cpus": 1, "memory": 1, "disk": 1},
        "tasks": [{"image": env["SAMPLE_IMAGE"], "cmd": "echo hello from prominence", "runtime": args.runtime}],
    }
    job_id = json.loads(call("POST", f"{url}/jobs", token, job))["id"]
    print(f"Job created with id {job_id}")

    deadline = time.monotonic() + args.timeout
    status = None
    while time.monotonic() < deadline:
        jobs = json.loads(call("GET", f"{url}/jobs/{job_id}", token))
        status = jobs[0]["status"] if jobs else None
        if status in TERMINAL:
            break
        time.sleep(0.5)
    print(f"status: {status}" + (f" ({jobs[0]['statusReason']})" if jobs and jobs[0].get("statusReason") else ""))
    print("stdout:")
    print(call("GET", f"{url}/jobs/{job_id}/stdout", token).decode(errors="replace"), end="")
    return 0 if status == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
