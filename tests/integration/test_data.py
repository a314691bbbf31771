"""Data in and out of jobs, and the Data API (spec §3.5, §9, §10, §13.3, §13.7), on the stack's
real S3 server, with the official CLI for uploads, listings and downloads."""

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
import tarfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config

from tests.integration.api import ARTIFACT_HOST, Api, job

CLI = Path(__file__).resolve().parents[2] / ".venv-cli" / "bin" / "prominence"


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """A loopback http server of a folder, for http(s) artifacts, on the stack's allow-listed address."""
    root = tmp_path_factory.mktemp("web")
    server = ThreadingHTTPServer((ARTIFACT_HOST, 0), partial(QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://{ARTIFACT_HOST}:{server.server_address[1]}"
    server.shutdown()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def cli(stack, tmp_path_factory):
    """Run the official CLI as a user, in a working directory of its own."""
    assert CLI.exists(), "run `make cli` first: the official CLI lives in .venv-cli"

    def run(user: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        workdir = cwd or tmp_path_factory.mktemp("cli")
        env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "PROMINENCE_URL": stack.url, "PROMINENCE_TOKEN": stack.token(user)}
        return subprocess.run([str(CLI), *args], env=env, cwd=workdir, capture_output=True, text=True, timeout=120)

    return run


@pytest.fixture(scope="module")
def bucket(stack):
    """The stack's bucket, seen directly with the stack's credentials (to check what is stored)."""
    return boto3.client("s3", **s3_credentials(stack.env)), stack.env["PROMINENCE_S3_BUCKET"]


def s3_credentials(env: dict[str, str]) -> dict[str, str]:
    return {
        "endpoint_url": env["PROMINENCE_S3_ENDPOINT_URL"],
        "region_name": env["PROMINENCE_S3_REGION"],
        "aws_access_key_id": env["PROMINENCE_S3_ACCESS_KEY"],
        "aws_secret_access_key": env["PROMINENCE_S3_SECRET_KEY"],
    }


def tgz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def keys(bucket, prefix: str) -> list[str]:
    client, name = bucket
    return [o["Key"] for o in client.list_objects_v2(Bucket=name, Prefix=prefix).get("Contents", [])]


def sandbox_with(stack, marker: str) -> Path:
    """The sandbox of the job whose command contains `marker`."""
    for path in (stack.home / "sandboxes").glob("*/job.json"):
        if marker in path.read_text():
            return path.parent
    raise AssertionError(f"no sandbox for {marker}")


def test_inputs_artifacts_and_outputs_reach_their_places(stack, alice, cli, web, sample_image, tmp_path):
    root, base = web
    (root / "web.tgz").write_bytes(tgz({"webdir/page.txt": b"from the web\n"}))
    upload = tmp_path / "tools.tgz"
    upload.write_bytes(tgz({"tools/run.sh": b"#!/bin/sh\necho tool ran\n"}))
    uploaded = cli("alice", "upload", "--name", "tools.tgz", "--filename", str(upload))
    assert (uploaded.returncode, uploaded.stdout.strip()) == (0, "Success"), uploaded.stderr
    listed = cli("alice", "ls", "-l")
    assert listed.stdout.split()[:2] == ["tools.tgz", str(upload.stat().st_size)], listed.stdout

    script = "cat in.txt webdir/page.txt /opt/tools/run.sh > out.txt; mkdir -p results/sub; cp in.txt results/sub/copy"
    body = job(
        sample_image,
        f"sh -c '{script}'",
        inputs=[
            {"filename": "in.txt", "content": base64.b64encode(b"input data\n").decode()},
            {"filename": "../../escape.sh", "content": base64.b64encode(b"#!/bin/sh\n").decode(), "executable": True},
        ],
        artifacts=[{"url": f"{base}/web.tgz"}, {"url": "tools.tgz", "mountpoint": "tools:/opt/tools"}],
        outputFiles=["out.*"],
        outputDirs=["results"],
    )
    described = alice.wait(alice.submit(body))
    assert (described["status"], described.get("statusReason")) == ("completed", None), described
    assert described["execution"]["stageInTime"] > 0 and described["execution"]["stageOutTime"] > 0
    home = sandbox_with(stack, script) / "userhome"
    assert (home / "escape.sh").stat().st_mode & 0o777 == 0o775  # the basename, in the home
    assert not (home.parent.parent / "escape.sh").exists() and not (home.parent / "escape.sh").exists()
    assert not (home / "web.tgz").exists()  # unpacked archives are removed

    [out] = described["outputFiles"]
    [results] = described["outputDirs"]
    assert (out["name"], out["size"], results["name"]) == (
        "out.*",
        len(b"input data\nfrom the web\n#!/bin/sh\necho tool ran\n"),
        "results",
    )
    workdir = tmp_path / "download"
    workdir.mkdir()
    downloaded = cli("alice", "download", str(described["id"]), cwd=workdir)
    assert downloaded.returncode == 0, downloaded.stderr
    assert (
        (workdir / "out.*").read_bytes()
        == (home / "out.txt").read_bytes()
        == b"input data\nfrom the web\n#!/bin/sh\necho tool ran\n"
    )
    with tarfile.open(workdir / "results.tgz") as tar:
        assert tar.extractfile("results/sub/copy").read() == b"input data\n"
    assert (workdir / "results.tgz").stat().st_size == results["size"]


def test_each_staging_failure_ends_the_job_with_its_reason(stack, alice, bucket, web, sample_image):
    root, base = web
    (root / "broken.tgz").write_bytes(b"this is not a gzip file")
    marker = f"upload-blocked-{time.time_ns()}"
    jobs = {
        "Artifact download failed": job(sample_image, "true", artifacts=[{"url": f"{base}/missing.tgz"}], outputFiles=["x"]),
        "Artifact uncompress failed": job(sample_image, "true", artifacts=[{"url": f"{base}/broken.tgz"}]),
        "Stageout failed due to no such file or directory": job(sample_image, "sh -c 'exit 3'", outputFiles=["never.txt"]),
        "Unable to stageout output to object storage": job(
            sample_image, f"sh -c 'until [ -f go ]; do sleep 0.1; done; echo {marker} > out.txt'", outputFiles=["out.txt"]
        ),
    }
    ids = {reason: alice.submit(body) for reason, body in jobs.items()}
    # The store refuses the upload for real: a "directory" already holds the output's key.
    sandbox = sandbox_with(stack, marker)
    client, name = bucket
    client.put_object(Bucket=name, Key=f"scratch/{sandbox.name}/out.txt/blocker", Body=b"x")
    (sandbox / "userhome" / "go").touch()
    for reason, job_id in ids.items():
        described = alice.wait(job_id)
        assert (described["status"], described.get("statusReason")) == ("failed", reason), described
    download_failed = alice.describe(ids["Artifact download failed"])
    assert download_failed["outputFiles"] == [{"name": "x", "url": ""}]  # stage-out skipped
    assert "tasks" not in download_failed["execution"] or download_failed["execution"]["tasks"] == []
    no_file = alice.describe(ids["Stageout failed due to no such file or directory"])
    assert no_file["execution"]["tasks"][0]["exitCode"] == 3  # stage-out ran after the failed task


def test_stage_in_never_fetches_from_the_stacks_own_network(stack, alice, bucket, sample_image):
    """Server-side request forgery: a URL that works from here (a presigned GET of the stack's
    own S3 server on 127.0.0.1) and the cloud metadata address are refused by stage-in, since
    only the artifact server's address is allow-listed."""
    client, name = bucket
    client.put_object(Bucket=name, Key="private/ssrf.txt", Body=b"stack-internal\n")
    signer = boto3.client("s3", **s3_credentials(stack.env), config=Config(signature_version="s3v4"))
    internal = signer.generate_presigned_url("get_object", Params={"Bucket": name, "Key": "private/ssrf.txt"}, ExpiresIn=600)
    assert internal.startswith("http://127.0.0.1:") and httpx.get(internal).content == b"stack-internal\n"
    ids = [
        alice.submit(job(sample_image, "true", artifacts=[{"url": url}]))
        for url in (
            internal,
            "http://169.254.169.254/latest/meta-data/iam",
            f"http://localhost:{stack.env['PROMINENCE_S3_PORT']}/{name}",
        )
    ]
    for job_id in ids:
        described = alice.wait(job_id)
        assert (described["status"], described.get("statusReason")) == ("failed", "Artifact download failed"), described


@pytest.mark.parametrize(
    "extra",
    [
        {"artifacts": [{"url": "../bob/secret.txt"}]},
        {"artifacts": [{"url": "bob/secret.txt"}]},
        {"artifacts": [{"url": "x/./y"}]},
        {"artifacts": [{"url": "file:///etc/passwd"}]},
        {"artifacts": [{"url": "https://example.org/a.tgz", "mountpoint": "..:/mnt"}]},
        {"outputFiles": ["../../etc/passwd"]},
        {"outputFiles": ["/etc/passwd"]},
        {"outputDirs": ["a/../.."]},
    ],
)
def test_names_leaving_their_area_are_refused(alice, sample_image, extra):
    before = alice.ids("/jobs", all="true")
    response = alice.client.post("/jobs", json=job(sample_image, "true", **extra))
    assert response.status_code == 400 and response.json()["error"], response.text
    assert alice.ids("/jobs", all="true") == before


def test_users_cannot_touch_each_others_objects(stack, alice, bob, cli, bucket, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"alice only\n")
    assert cli("alice", "upload", "--name", "secret.txt", "--filename", str(secret)).returncode == 0
    stored = keys(bucket, "uploads/")

    assert "secret.txt" not in cli("bob", "ls").stdout
    assert bob.client.get("/data/alice").json() == {"error": "Not authorized to access this path"}
    for path in ("/data/upload", "/data"):
        for name in ("alice/secret.txt", "../alice/secret.txt", "/uploads/alice/secret.txt", "x/../../alice/secret.txt"):
            response = bob.client.post(path, json={"filename": name, "checksum": None})
            assert response.status_code in (400, 403) and "error" in response.json(), (name, response.text)
    for obj in ("alice/secret.txt", "..%2Falice%2Fsecret.txt", "bob%2F..%2F..%2Fuploads%2Falice%2Fsecret.txt"):
        response = bob.client.delete(f"/data/{obj}")
        assert response.status_code in (400, 403) and "error" in response.json(), (obj, response.text)
    assert bob.client.get("/data/%2E%2E").status_code == 400
    rm = cli("bob", "rm", "alice/secret.txt")
    assert rm.returncode == 1 and "Not authorized" in rm.stdout + rm.stderr
    # Bob's own object of the same name is his, in his area.
    assert cli("bob", "upload", "--name", "secret.txt", "--filename", str(tmp_path / "secret.txt")).returncode == 0
    assert cli("bob", "rm", "secret.txt").returncode == 0
    assert keys(bucket, "uploads/") == stored
    rejected = bob.client.post("/jobs", json=job("x", "true", artifacts=[{"url": "alice/secret.txt"}]))
    assert rejected.json() == {"error": "Artifact alice/secret.txt does not exist"}


def test_group_areas_and_deletion(stack, cli, tmp_path):
    shared = tmp_path / "shared.txt"
    shared.write_bytes(b"for the team\n")
    member, outsider = Api(stack.url, stack.token("dave", "team")), Api(stack.url, stack.token("erin", "other"))
    response = member.client.post(
        "/data/upload", json={"filename": "team/sub/shared.txt", "checksum": hashlib.sha256(b"for the team\n").hexdigest()}
    )
    assert response.status_code == 201 and set(response.json()) == {"url"}
    assert httpx.put(response.json()["url"], content=shared.read_bytes()).status_code == 200
    assert [o["name"] for o in member.client.get("/data/team").json()] == ["team/sub/shared.txt"]
    assert member.client.get("/data").json() == []
    assert outsider.client.get("/data/team").status_code == 403
    assert outsider.client.post("/data/upload", json={"filename": "team/x"}).json() == {
        "error": "Not authorized to access upload with this path"
    }
    assert outsider.client.delete("/data/team/sub/shared.txt").status_code == 403
    assert member.client.delete("/data/team/sub/shared.txt").status_code == 204
    assert member.client.delete("/data/team/sub/shared.txt").status_code == 204  # absent: still 204
    assert member.client.get("/data/team").json() == []
    assert member.client.post("/data/upload").json() == {"error": "An object name must be specified"}
