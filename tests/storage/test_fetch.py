"""Artifact downloads from a real HTTP server on loopback (allow-listed, as an operator would):
success, final 4xx, retried 5xx and connection errors, the disk bound, never a half-written
file; and the addresses stage-in refuses, after DNS and after each redirect."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from prominence.config import get_settings
from prominence.storage import fetch
from prominence.storage.fetch import FetchError, address_allowed, download_url

BODY = b"artifact bytes\n" * 1000


class Server:
    """Answers each GET with the next queued status (the last repeats): 200 sends BODY, 302
    redirects to `location`. Listens on 127.0.0.2, the loopback address the tests allow-list."""

    def __init__(self) -> None:
        self.statuses: list[int] = [200]
        self.paths: list[str] = []
        self.hosts: list[str] = []
        self.location = "/file"
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.paths.append(self.path)
                server.hosts.append(self.headers["Host"])
                status = server.statuses.pop(0) if len(server.statuses) > 1 else server.statuses[0]
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", server.location)
                    self.end_headers()
                    return
                body = BODY if status == 200 else b"no"
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.2:{self.port}"


@pytest.fixture(autouse=True)
def allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the test server's loopback address is allow-listed."""
    monkeypatch.setattr(get_settings(), "stagein_allowed_networks", "127.0.0.2/32")


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[list[str]]]:
    """Fake DNS: each name answers its queued address lists in turn (the last repeats)."""
    answers: dict[str, list[list[str]]] = {}

    def resolve(host: str, port: int) -> list[str]:
        queued = answers.get(host)
        if not queued:
            return [host]
        return queued.pop(0) if len(queued) > 1 else queued[0]

    monkeypatch.setattr(fetch, "resolve", resolve)
    return answers


@pytest.fixture
def server() -> Iterator[Server]:
    served = Server()
    thread = threading.Thread(target=served.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield served
    served.httpd.shutdown()
    served.httpd.server_close()


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The back-off between attempts, recorded instead of slept."""
    waits: list[float] = []
    monkeypatch.setattr(fetch, "time", SimpleNamespace(sleep=waits.append))
    return waits


def test_downloads_the_whole_body(server: Server, tmp_path: Path, slept) -> None:
    dest = tmp_path / "a.txt"
    download_url(f"{server.url}/a.txt", dest, len(BODY))
    assert dest.read_bytes() == BODY
    assert (server.paths, slept) == (["/a.txt"], [])


def test_follows_redirects(server: Server, tmp_path: Path, slept) -> None:
    server.statuses = [302, 200]
    download_url(f"{server.url}/moved", tmp_path / "a", len(BODY))
    assert (tmp_path / "a").read_bytes() == BODY
    assert server.paths == ["/moved", "/file"]


def test_a_client_error_is_final(server: Server, tmp_path: Path, slept) -> None:
    server.statuses = [404]
    with pytest.raises(FetchError, match="HTTP 404"):
        download_url(f"{server.url}/missing", tmp_path / "a", len(BODY))
    assert (server.paths, slept) == (["/missing"], [])
    assert not (tmp_path / "a").exists()


def test_server_errors_are_retried_with_a_linear_back_off(server: Server, tmp_path: Path, slept) -> None:
    server.statuses = [503, 502, 200]
    download_url(f"{server.url}/a", tmp_path / "a", len(BODY))
    assert (tmp_path / "a").read_bytes() == BODY
    assert (len(server.paths), slept) == (3, [1, 2])


def test_a_server_error_on_every_attempt_fails(server: Server, tmp_path: Path, slept) -> None:
    server.statuses = [500]
    with pytest.raises(FetchError, match="HTTP 500"):
        download_url(f"{server.url}/a", tmp_path / "a", len(BODY), attempts=2)
    assert (len(server.paths), slept) == (2, [1])
    assert not (tmp_path / "a").exists()


def test_more_than_the_disk_fails_at_once_and_leaves_no_file(server: Server, tmp_path: Path, slept) -> None:
    with pytest.raises(FetchError, match="larger than the job's disk"):
        download_url(f"{server.url}/a", tmp_path / "a", len(BODY) - 1)
    assert (len(server.paths), slept) == (1, [])
    assert not (tmp_path / "a").exists()


def test_an_unreachable_server_is_retried_then_fails(tmp_path: Path, slept) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.2", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(FetchError, match=f"127.0.0.2:{port}"):
        download_url(f"http://127.0.0.2:{port}/a", tmp_path / "a", 10)
    assert slept == [1, 2]
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::1",
        "64:ff9b::a9fe:a9fe",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not address_allowed(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::1111", "::ffff:93.184.215.14", "127.0.0.2"])
def test_public_and_allow_listed_addresses_are_fetched(address: str) -> None:
    assert address_allowed(address)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/a",
        "http://localhost:{port}/a",
        "http://[::1]:{port}/a",
        "http://2130706433:{port}/a",
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
        "ftp://127.0.0.2/a",
    ],
)
def test_refused_urls_fail_at_once_without_a_request(server: Server, tmp_path: Path, slept, url: str) -> None:
    with pytest.raises(FetchError, match="not allowed for stage-in|only http and https"):
        download_url(url.format(port=server.port), tmp_path / "a", len(BODY))
    assert (server.paths, slept) == ([], [])
    assert not (tmp_path / "a").exists()


def test_without_the_allow_list_loopback_is_refused(server: Server, tmp_path: Path, slept, monkeypatch) -> None:
    monkeypatch.setattr(get_settings(), "stagein_allowed_networks", "")
    with pytest.raises(FetchError, match="127.0.0.2 is not allowed"):
        download_url(f"{server.url}/a", tmp_path / "a", len(BODY))
    assert server.paths == []


def test_a_name_is_connected_to_at_the_address_checked(server: Server, tmp_path: Path, slept, resolver) -> None:
    """DNS rebinding: a second answer (loopback) is never asked for, the checked one is used."""
    resolver["files.example.org"] = [["127.0.0.2"], ["127.0.0.1"]]
    download_url(f"http://files.example.org:{server.port}/a", tmp_path / "a", len(BODY))
    assert (tmp_path / "a").read_bytes() == BODY
    assert server.hosts == [f"files.example.org:{server.port}"]


def test_a_name_with_any_refused_address_is_refused(server: Server, tmp_path: Path, slept, resolver) -> None:
    resolver["files.example.org"] = [["127.0.0.2", "10.0.0.1"]]
    with pytest.raises(FetchError, match="10.0.0.1 is not allowed"):
        download_url(f"http://files.example.org:{server.port}/a", tmp_path / "a", len(BODY))
    assert server.paths == []


@pytest.mark.parametrize("location", ["http://127.0.0.1:{port}/file", "http://metadata.internal/file", "file:///etc/passwd"])
def test_a_redirect_to_a_refused_target_is_refused(server: Server, tmp_path: Path, slept, resolver, location) -> None:
    resolver["files.example.org"] = [["127.0.0.2"]]
    resolver["metadata.internal"] = [["169.254.169.254"]]
    server.statuses = [302, 200]
    server.location = location.format(port=server.port)
    with pytest.raises(FetchError, match="not allowed for stage-in|only http and https"):
        download_url(f"http://files.example.org:{server.port}/moved", tmp_path / "a", len(BODY))
    assert (server.paths, slept) == (["/moved"], [])
    assert not (tmp_path / "a").exists()


def test_redirects_are_bounded(server: Server, tmp_path: Path, slept) -> None:
    server.statuses = [302]
    with pytest.raises(FetchError, match="more than 5 redirects"):
        download_url(f"{server.url}/moved", tmp_path / "a", len(BODY))
    assert len(server.paths) == 6
