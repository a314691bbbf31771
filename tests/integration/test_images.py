"""Image sources (spec §3.3, §13.5) through the REST API on a real stack: http(s) URLs of a SIF or
a `docker save` archive, uploaded images, a private registry with htpasswd authentication, the
`imageSha256` check and the worker's image cache, with both runtimes."""

from __future__ import annotations

import crypt
import gzip
import hashlib
import json
import shutil
import subprocess
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.integration.api import ARTIFACT_HOST, Api, job
from tests.integration.conftest import free_port, running_stack

PULL_FAILED = "Container image pull failed"
# The runscripts of a SIF with two apps (SCIF's layout), beside the image's own.
RUNSCRIPTS = {
    ".singularity.d/runscript": 'echo "the image\'s own runscript"',
    "scif/apps/greet/scif/runscript": 'echo "greet app: $*"',
    "scif/apps/other/scif/runscript": 'echo "other app"',
}
SECRET = "s3cret-registry-token"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def private_registry(tmp_path_factory):
    """A second registry, with htpasswd (bcrypt) authentication for `puller`, on loopback."""
    root = tmp_path_factory.mktemp("private-registry")
    (root / "htpasswd").write_text(f"puller:{crypt.crypt(SECRET, crypt.mksalt(crypt.METHOD_BLOWFISH))}\n")
    address = f"127.0.0.1:{free_port()}"
    config = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(root / "data")}},
        "http": {"addr": address},
        "auth": {"htpasswd": {"realm": "private", "path": str(root / "htpasswd")}},
    }
    (root / "config.yml").write_text(json.dumps(config))
    server = subprocess.Popen(["docker-registry", "serve", str(root / "config.yml")], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                assert httpx.get(f"http://{address}/v2/").status_code == 401
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the private registry did not start"
                time.sleep(0.2)
        yield address
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture(scope="module")
def stack(reachable_tmp, private_registry):
    with running_stack(reachable_tmp / "images", PROMINENCE_INSECURE_REGISTRIES=private_registry) as running:
        yield running


@pytest.fixture(scope="module")
def alice(stack):
    api = Api(stack.url, stack.token("alice"))
    api.client.timeout = httpx.Timeout(120)  # image builds load the machine's cores
    return api


@pytest.fixture(scope="module")
def images(stack, private_registry, tmp_path_factory):
    """The stack's sample image as files served over http (a `docker save` archive, gzipped too,
    and a SIF), and pushed to the private registry; returns (web root, base URL, private ref)."""
    public = f"docker://{stack.env['PROMINENCE_REGISTRY']}/prominence/busybox:latest"
    root = tmp_path_factory.mktemp("web")
    skopeo = ["skopeo", "copy", "--quiet", "--src-tls-verify=false"]
    subprocess.run([*skopeo, public, f"docker-archive:{root / 'bb.tar'}:prominence/busybox:latest"], check=True)
    with (root / "bb.tar").open("rb") as plain, gzip.open(root / "bb.tgz", "wb") as packed:
        shutil.copyfileobj(plain, packed)
    subprocess.run(["apptainer", "--quiet", "build", str(root / "bb.sif"), f"docker-archive:{root / 'bb.tar'}"], check=True)
    build_apps_sif(root / "bb.tar", root / "apps.sif", tmp_path_factory.mktemp("apps"))
    private = f"{private_registry}/private/busybox:latest"
    subprocess.run(
        [*skopeo, "--dest-tls-verify=false", f"--dest-creds=puller:{SECRET}", public, f"docker://{private}"], check=True
    )
    server = ThreadingHTTPServer((ARTIFACT_HOST, 0), partial(QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://{ARTIFACT_HOST}:{server.server_address[1]}", private
    server.shutdown()


def build_apps_sif(archive, sif, work) -> None:
    """A SIF with apps, built from a sandbox directory: a definition file's %apprun needs a build
    scriptlet with capabilities this machine's root lacks."""
    sandbox = work / "sandbox"
    subprocess.run(["apptainer", "--quiet", "build", "--sandbox", str(sandbox), f"docker-archive:{archive}"], check=True)
    for path, line in RUNSCRIPTS.items():
        script = sandbox / path
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(f"#!/bin/sh\n{line}\n")
        script.chmod(0o755)
    subprocess.run(["apptainer", "--quiet", "build", str(sif), str(sandbox)], check=True)


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def task_execution(job_view: dict) -> dict:
    return job_view["execution"]["tasks"][0]


def test_url_images_run_and_a_known_checksum_reuses_the_workers_copy(alice, images):
    root, web, _ = images
    cases = [("singularity", "bb.sif"), ("singularity", "bb.tgz"), ("udocker", "bb.tar")]
    ids = [alice.submit(job(f"{web}/{name}", "echo from-url", runtime)) for runtime, name in cases]
    for (runtime, name), job_id in zip(cases, ids, strict=True):
        done = alice.wait(job_id, timeout=180)
        assert done["status"] == "completed", (runtime, name, done)
        assert alice.stdout(job_id) == "from-url\n"
        pulled = task_execution(done)
        assert pulled["imagePullStatus"] == "completed" and pulled["imagePullTime"] >= 0
        assert pulled["imageSha256"] == sha256(root / name)

    # The same images by checksum, gone from the web server: only the worker's cache has them.
    checksums = {name: sha256(root / name) for _, name in cases}
    for name in checksums:
        (root / name).rename(root / f"{name}.gone")
    try:
        again = []
        for runtime, name in cases:
            body = job(f"{web}/{name}", "echo cached", runtime)
            body["tasks"][0]["imageSha256"] = checksums[name]
            again.append(alice.submit(body))
        for job_id in again:
            done = alice.wait(job_id, timeout=120)
            assert done["status"] == "completed", done
            assert alice.stdout(job_id) == "cached\n"
            assert task_execution(done)["imagePullStatus"] == "cached"
            assert "imagePullTime" not in task_execution(done)
    finally:
        for name in checksums:
            (root / f"{name}.gone").rename(root / name)


@pytest.mark.parametrize("runtime", ["singularity", "udocker"])
def test_a_checksum_that_does_not_match_fails_the_pull(alice, images, runtime):
    _, web, _ = images
    body = job(f"{web}/bb.tar", "echo never", runtime)
    body["tasks"][0]["imageSha256"] = "0" * 64
    done = alice.wait(alice.submit(body), timeout=120)
    assert (done["status"], done["statusReason"]) == ("failed", PULL_FAILED)
    assert task_execution(done)["imagePullStatus"] == "failed"
    assert alice.stdout(done["id"]) == ""


def test_uploaded_images_run_and_a_missing_one_is_refused(alice, images):
    root, _, _ = images
    for name in ("bb.tar", "bb.sif"):
        answer = alice.client.post("/data/upload", json={"filename": name, "checksum": sha256(root / name)})
        assert answer.status_code == 201, answer.text
        assert httpx.put(answer.json()["url"], content=(root / name).read_bytes()).status_code == 200
    ids = {
        name: alice.submit(job(name, "echo uploaded", runtime))
        for runtime, name in (("udocker", "bb.tar"), ("singularity", "bb.sif"))
    }
    for name, job_id in ids.items():
        done = alice.wait(job_id, timeout=180)
        assert done["status"] == "completed", done
        assert alice.stdout(job_id) == "uploaded\n"
        assert task_execution(done)["imageSha256"] == sha256(root / name)

    before = alice.ids()
    refused = alice.client.post("/jobs", json=job("nope.sif", "echo never"))
    assert (refused.status_code, refused.json()) == (400, {"error": "Image nope.sif does not exist"})
    assert alice.ids() == before


def test_an_uploaded_image_is_its_owners_alone_even_by_checksum(stack, alice, images):
    root, web, _ = images
    # Content of alice's alone: the sample archive gzipped under another name (another header).
    secret = root / "alices.tgz"
    with (root / "bb.tar").open("rb") as plain, gzip.GzipFile(secret, "wb", mtime=12345) as packed:
        shutil.copyfileobj(plain, packed)
    digest = sha256(secret)
    content = secret.read_bytes()
    secret.unlink()  # on the web server under no name
    answer = alice.client.post("/data/upload", json={"filename": "alices.tgz", "checksum": digest})
    assert httpx.put(answer.json()["url"], content=content).status_code == 200
    runtimes = ("udocker", "singularity")
    for job_id in [alice.submit(job("alices.tgz", "echo mine", runtime)) for runtime in runtimes]:
        assert alice.wait(job_id, timeout=180)["status"] == "completed"
    bob = Api(stack.url, stack.token("bob"))
    guesses = []
    for runtime in runtimes:
        body = job(f"{web}/alices.tgz", "echo taken", runtime)
        body["tasks"][0]["imageSha256"] = digest
        guesses.append(bob.submit(body))
    for job_id in guesses:
        failed = bob.wait(job_id, timeout=120)
        assert (failed["status"], failed["statusReason"]) == ("failed", PULL_FAILED), failed


@pytest.mark.parametrize("runtime", ["singularity", "udocker"])
def test_a_private_registry_with_the_credential(stack, alice, images, runtime):
    _, _, private = images
    credential = {"username": "puller", "token": SECRET}
    body = job(private, "env", runtime)
    body["tasks"][0]["imagePullCredential"] = credential
    job_id = alice.submit(body)
    done = alice.wait(job_id, timeout=180)
    assert done["status"] == "completed", done
    # Pulled with alice's credential, the image is no other job's to run.
    without = alice.submit(job(private, "echo never", runtime))
    assert SECRET not in alice.stdout(job_id)
    assert SECRET not in alice.client.get(f"/jobs/{job_id}").text
    assert SECRET not in alice.client.get("/jobs", params={"completed": "true", "num": "50", "detail": "true"}).text
    failed = alice.wait(without, timeout=120)
    assert (failed["status"], failed["statusReason"]) == ("failed", PULL_FAILED)
    logs = [path for path in stack.home.rglob("*.log") if path.is_file()]
    assert logs and not [path for path in logs if SECRET in path.read_text(errors="replace")]


def test_app_runs_that_app_of_the_image(alice, images):
    _, web, _ = images
    plain = job(f"{web}/apps.sif")
    plain["tasks"][0]["app"] = "greet"
    with_args = job(f"{web}/apps.sif", "one two")
    with_args["tasks"][0]["app"] = "greet"
    ids = [alice.submit(plain), alice.submit(with_args), alice.submit(job(f"{web}/apps.sif"))]
    outputs = []
    for job_id in ids:
        done = alice.wait(job_id, timeout=180)
        assert done["status"] == "completed", done
        outputs.append(alice.stdout(job_id))
    assert outputs == ["greet app: \n", "greet app: one two\n", "the image's own runscript\n"]
