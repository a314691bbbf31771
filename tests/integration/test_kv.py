"""The key-value store (spec §11) and job tokens (spec §2, §13.10) on a real stack: jobs call the
API from inside their containers with busybox's wget, as their owner and as nobody else."""

from __future__ import annotations

import base64
import json
import shlex
import subprocess
import time
from pathlib import Path

import httpx
import jwt
import pytest

from tests.integration.api import Api, job

CLI = Path(__file__).resolve().parents[2] / ".venv-cli" / "bin" / "prominence"
# Spec §2: a job token lives 10 days plus twice the job's walltime.
TOKEN_MARGIN = 10 * 24 * 3600


def in_container(script: str) -> str:
    """A task command running `script` in the image's shell, with the job's token at hand."""
    return "sh -c " + shlex.quote('set -e; auth="Authorization: Bearer $PROMINENCE_TOKEN"; ' + script)


def test_a_job_writes_a_value_its_owner_reads_and_nobody_else(alice, bob, sample_image):
    script = (
        'printf "written by job %s" "$PROMINENCE_JOB_ID" > "$HOME/value"; '
        'wget -q -O- --header "$auth" --post-file "$HOME/value" "$PROMINENCE_URL/kv/from-job/value"; echo; '
        'wget -q -O- --header "$auth" "$PROMINENCE_URL/kv/from-job/value"'
    )
    job_id = alice.submit(job(sample_image, in_container(script)))
    done = alice.wait(job_id)
    stderr = alice.stdout(job_id, "stderr")
    assert (done["status"], done["execution"]["tasks"][0]["exitCode"]) == ("completed", 0), stderr
    assert alice.stdout(job_id) == f"{{}}\nwritten by job {job_id}"

    assert alice.client.get("/kv/from-job/value").text == f"written by job {job_id}"
    assert "/from-job/value" in alice.client.get("/kv", params={"list": "true"}).json()
    missing = bob.client.get("/kv/from-job/value")
    assert (missing.status_code, missing.json()) == (404, {"error": "No such key"})
    assert bob.client.get("/kv/from-job", params={"list": "true"}).json() == []


def test_a_job_lists_its_jobs_and_submits_a_child_as_its_owner(alice, bob, sample_image):
    child = job(sample_image, "echo I am the child", runtime="udocker", name="child")
    script = (
        f"wget -q -O- --header \"$auth\" --header 'Content-Type: application/json' "
        f"--post-data '{json.dumps(child)}' \"$PROMINENCE_URL/jobs\"; echo; "
        'wget -q -O- --header "$auth" "$PROMINENCE_URL/jobs?id=$PROMINENCE_JOB_ID"; echo; '
        # Only the claims: the token itself would be in the task log, which no token may reach.
        'echo "$PROMINENCE_TOKEN" | cut -d. -f2'
    )
    submitted = time.time()
    resources = {"nodes": 1, "cpus": 1, "memory": 1, "disk": 10, "walltime": 30}
    parent_id = alice.submit(job(sample_image, in_container(script), runtime="udocker", resources=resources))
    done = alice.wait(parent_id)
    assert done["execution"]["tasks"][0]["exitCode"] == 0, alice.stdout(parent_id, "stderr")
    created, listed, payload = alice.stdout(parent_id).splitlines()

    child_id = json.loads(created)["id"]
    assert [item["id"] for item in json.loads(listed)] == [parent_id]
    finished = alice.wait(child_id)
    assert (finished["name"], finished["status"]) == ("child", "completed")
    assert alice.stdout(child_id) == "I am the child\n"
    assert child_id in alice.ids("/jobs", all="true")
    assert bob.client.get(f"/jobs/{child_id}").json() == []

    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["username"] == "alice" and claims["job"]
    assert int(submitted) + TOKEN_MARGIN + 2 * 30 * 60 <= claims["exp"] <= time.time() + TOKEN_MARGIN + 2 * 30 * 60


def test_prefixes_binary_values_and_the_size_limit(stack):
    erin = Api(stack.url, stack.token("erin")).client
    for key in ("run/1/a", "run/1/b", "run/10/a", "other"):
        assert erin.post(f"/kv/{key}", content=key.encode()).status_code == 201
    assert erin.get("/kv/run/1", params={"list": "true"}).json() == ["/run/1/a", "/run/1/b", "/run/10/a"]
    assert erin.get("/kv/run/1/", params={"list": "true"}).json() == ["/run/1/a", "/run/1/b"]
    assert erin.delete("/kv/run/1/", params={"prefix": "True"}).status_code == 200
    assert erin.get("/kv", params={"list": "true"}).json() == ["/other", "/run/10/a"]

    binary = bytes(range(256)) * 8
    assert erin.post("/kv/blob", content=binary).status_code == 201
    assert erin.get("/kv/blob").content == binary

    refused = erin.post("/kv/blob", content=b"x" * 17 * 1024)
    assert (refused.status_code, refused.json()) == (400, {"error": "Content of value too large"})
    assert erin.post("/kv/new", content=b"x" * 17 * 1024).status_code == 400
    assert erin.get("/kv/blob").content == binary
    assert erin.get("/kv", params={"list": "true"}).json() == ["/blob", "/other", "/run/10/a"]


def test_expired_and_foreign_tokens_are_refused(stack):
    secret = stack.env["PROMINENCE_JOB_TOKEN_SECRET"]

    def kv_list(claims: dict, key: str = secret) -> httpx.Response:
        token = jwt.encode({"username": "alice", "groups": "", **claims}, key, algorithm="HS256")
        return httpx.get(f"{stack.url}/kv", params={"list": "true"}, headers={"Authorization": f"Bearer {token}"})

    foreign = kv_list({"exp": int(time.time()) + 3600}, key="not the stack's secret, but long enough")
    assert (foreign.status_code, foreign.json()) == (401, {"error": "Authentication failure"})
    assert kv_list({"exp": int(time.time()) - 1}).status_code == 401

    expires = int(time.time()) + 2
    assert kv_list({"exp": expires}).status_code == 200
    deadline = time.monotonic() + 10
    while (answer := kv_list({"exp": expires})).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (answer.status_code, answer.json()) == (401, {"error": "Authentication failure"})
    assert time.time() >= expires


@pytest.fixture(scope="module")
def kv_cli(stack, tmp_path_factory):
    assert CLI.exists(), "run `make cli` first: the official CLI lives in .venv-cli"
    workdir = tmp_path_factory.mktemp("kvcli")
    token = stack.token("frank")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "PROMINENCE_URL": stack.url, "PROMINENCE_TOKEN": token}

    def run(*args: str) -> tuple[int, str]:
        done = subprocess.run([str(CLI), "kv", *args], env=env, cwd=workdir, capture_output=True, text=True, timeout=60)
        return done.returncode, done.stdout + done.stderr

    return run


def test_the_official_cli(kv_cli, tmp_path):
    assert kv_cli("set", "greeting", "hello") == (0, "")
    assert kv_cli("set", "/abs/key", "absolute") == (0, "")
    (tmp_path / "file").write_text("from a file")
    assert kv_cli("set", "dir/a", str(tmp_path / "file")) == (0, "")
    assert kv_cli("set", "dir/b", "two") == (0, "")

    assert kv_cli("get", "greeting") == (0, "hello\n")
    assert kv_cli("get", "/abs/key") == (0, "absolute\n")
    assert kv_cli("get", "dir/a") == (0, "from a file\n")
    assert kv_cli("list") == (0, "/abs/key\n/dir/a\n/dir/b\n/greeting\n")
    assert kv_cli("list", "/dir") == (0, "/dir/a\n/dir/b\n")

    assert kv_cli("delete", "--prefix", "/dir") == (0, "")
    assert kv_cli("delete", "greeting") == (0, "")
    assert kv_cli("list") == (0, "/abs/key\n")
    assert kv_cli("get", "greeting") == (1, "Error: No such key\n")
