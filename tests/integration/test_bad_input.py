"""Bad input gets a clear 400/413 JSON error and changes nothing."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.integration.api import job


def count_jobs(api) -> int:
    return len(api.client.get("/jobs", params={"all": "true"}).json())


@pytest.mark.parametrize(
    "body, message",
    [
        (b"{not json", "Request body is not valid JSON"),
        (b'{"resources": {"cpus": 1, "memory": 1}}', "a job must contain tasks"),
        (b'{"resources": {"cpus": 1, "memory": 1}, "tasks": []}', "a job cannot contain only sidecar tasks"),
        (b'{"resources": {"cpus": "two", "memory": 1}, "tasks": [{"image": "x"}]}', "number of cpus must be an integer"),
        (b'{"resources": {"cpus": -1, "memory": 1}, "tasks": [{"image": "x"}]}', "number of cpus must be an integer"),
        (
            b'{"resources": {"cpus": 1, "memory": 1}, "tasks": [{"image": "x"}], "colour": 1}',
            'invalid item "colour" in job description',
        ),
        (b'{"resources": {"cpus": 1, "memory": 1}, "tasks": [{"image": "x", "args": []}]}', 'invalid item "args" in task'),
        (b"[1, 2]", "a job description must be a JSON object"),
        (
            b'{"resources": {"cpus": 1, "memory": 1, "nodes": 2}, "tasks": [{"image": "x", "type": "openmpi", "cmd": "a"}]}',
            "tasks of type openmpi on more than one node are not supported by this server yet",
        ),
    ],
)
def test_rejected_jobs_store_nothing(alice, body, message):
    before = count_jobs(alice)
    response = alice.client.post("/jobs", content=body, headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (400, {"error": message})
    assert count_jobs(alice) == before


def test_a_body_over_one_mebibyte_is_413_json(alice, sample_image):
    before = count_jobs(alice)
    big = job(sample_image, "true", labels={"x": "y" * 500})
    big["inputs"] = [{"filename": "big.txt", "content": "A" * (2 * 1024 * 1024)}]
    response = alice.client.post("/jobs", json=big)
    assert response.status_code == 413
    assert "error" in response.json()
    assert count_jobs(alice) == before


def test_float_memory_and_the_typo_spelling_are_accepted(alice, sample_image):
    body = job(sample_image, "true", policies={"ignoreTaskTailures": True})
    body["resources"]["memory"] = 1.0
    described = alice.wait(alice.submit(body))
    assert described["policies"]["ignoreTaskFailures"] is True


def test_more_cpus_than_any_worker_has_fail_with_no_matching_resources(alice, sample_image):
    body = job(sample_image, "true")
    body["resources"]["cpus"] = 1024
    described = alice.wait(alice.submit(body))
    assert (described["status"], described["statusReason"]) == ("failed", "No matching resources")


def _read_answer(connection: socket.socket) -> str:
    """Reads until the answer's headers and its declared body are in: they may come in two packets."""
    data = b""
    while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < _length(data):
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace")


def _length(data: bytes) -> int:
    for line in data.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


@pytest.mark.parametrize("path", ["/workflows/1/advance", "/jobs", "/workflows", "/kv/x", "/data/upload"])
def test_an_unauthenticated_huge_body_is_401_before_it_is_sent(stack, path):
    """The API answers from the headers alone: the client declares 256 MiB, sends 1 KiB and
    waits; a server reading the body first would wait for the rest instead of answering."""
    url = httpx.URL(stack.url)
    target = f"{url.raw_path.decode()}{path}"
    head = f"POST {target} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\nContent-Type: application/json\r\nContent-Length: {256 * 1024 * 1024}\r\n\r\n"
    with socket.create_connection((url.host, url.port), timeout=10) as connection:
        connection.sendall(head.encode() + b"{" + b" " * 1023)
        answer = _read_answer(connection)
    assert answer.startswith("HTTP/1.1 401"), answer
    assert '{"error":"Authentication failure"}' in answer


@pytest.mark.parametrize(
    "body, message",
    [
        (b"[" * 100_000 + b"]" * 100_000, "Request body is not valid JSON"),
        (
            b'{"resources": {"cpus": 1, "memory": 1}, "tasks": [{"image": "x"}], "inputs": [{"filename": "a\\u0000b", "content": ""}]}',
            "Request body contains a NUL character",
        ),
        (
            b'{"resources": {"cpus": 1, "memory": 1}, "tasks": [{"image": "x"}], "inputs": [{"filename": "\\ud800", "content": ""}]}',
            "Request body contains an unpaired surrogate",
        ),
    ],
)
def test_bodies_no_file_name_or_database_could_hold_are_400(alice, body, message):
    before = count_jobs(alice)
    response = alice.client.post("/jobs", content=body, headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (400, {"error": message})
    assert count_jobs(alice) == before


def test_numbers_past_64_bits_are_400_or_empty_never_500(alice, sample_image):
    job_id = alice.submit(job(sample_image, "echo hi"))
    alice.wait(job_id)
    assert alice.client.get(f"/jobs/{job_id}/stdout", params={"offset": 2**70}).text == ""
    for response in (
        alice.client.get(f"/jobs/{2**64}"),
        alice.client.get("/jobs", params={"id": str(2**64)}),
        alice.client.delete("/jobs", params={"id": str(2**64)}),
    ):
        assert response.status_code == 400 and response.json()["error"], response.text
