"""`prominence register` and `prominence login` (the official CLI, unmodified) against a real OIDC
provider, the device flow approved in headless Chromium; the CLI's saved token then works."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import httpx
import jwt

from tests.integration.api import Api
from tests.integration.ui.browser import approve_device

CLI = Path(__file__).resolve().parents[3] / ".venv-cli" / "bin" / "prominence"


def test_a_user_logs_in_with_the_cli_and_owns_the_jobs_they_create(
    oidc_stack, oidc_provider, oidc_sample_image, browser, tmp_path
):
    assert CLI.exists(), "run `make cli` first: the official CLI lives in .venv-cli"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PROMINENCE_URL": oidc_stack.url,
        "PROMINENCE_OIDC_URL": oidc_provider.url,
        "PYTHONUNBUFFERED": "1",
    }

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True, timeout=120)

    registered = cli("register")
    assert registered.stdout == "Client registration successful\n", registered.stderr
    login = subprocess.Popen([str(CLI), "login"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        prompt = login.stdout.readline()
        uri, code = re.search(r"open the page (\S+) and enter the code (\S+) when", prompt).groups()
        approve_device(browser, uri, code, "alice")
        assert login.wait(60) == 0, login.stderr.read()
    finally:
        login.kill()
    saved = json.loads((tmp_path / ".prominence" / "token").read_text())
    assert jwt.decode(saved["access_token"], options={"verify_signature": False})["sub"] == "alice"

    created = cli("create", "--name", "oidc-job", "--runtime", "udocker", oidc_sample_image, "echo hello")
    match = re.fullmatch(r"Job created with id (\d+)\n", created.stdout)
    assert match, created.stdout + created.stderr
    job_id = int(match.group(1))
    listed = cli("list", "--all")
    assert re.search(rf"^{job_id}\s.*oidc-job", listed.stdout, re.M), listed.stdout + listed.stderr

    assert Api(oidc_stack.url, oidc_stack.token("alice")).describe(job_id)["name"] == "oidc-job"
    assert Api(oidc_stack.url, oidc_stack.token("bob")).client.get(f"/jobs/{job_id}").json() == []


def test_a_token_the_provider_did_not_issue_is_refused(oidc_stack):
    forged = jwt.encode({"sub": "alice", "exp": 4102444800}, "not the provider's key at all, 32+ bytes", algorithm="HS256")
    refused = httpx.get(f"{oidc_stack.url}/jobs", headers={"Authorization": f"Bearer {forged}"})
    assert (refused.status_code, refused.json()) == (401, {"error": "Authentication failure"})
