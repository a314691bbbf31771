"""Artifact downloads from a real HTTP server on loopback: success, final 4xx, retried 5xx and
connection errors, the disk bound, and never a half-written file."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from prominence.storage import fetch
from prominence.storage.fetch import FetchError, download_url

BODY = b"artifact bytes\n" * 1000


class Server:
    """Answers each GET with the next queued status (the last repeats): 200 sends BODY, 302
    redirects to /file."""

    def __init__(self) -> None:
        self.statuses: list[int] = [200]
        self.paths: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.paths.append(self.path)
                status = server.statuses.pop(0) if len(server.statuses) > 1 else server.statuses[0]
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", "/file")
                    self.end_headers()
                    return
                body = BODY if status == 200 else b"no"
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def server() -> Iterator[Server]:
    served = Server()
    thread = threading.Thread(target=served.httpd.serve_forever, daemon=True)
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
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(FetchError, match=f"127.0.0.1:{port}"):
        download_url(f"http://127.0.0.1:{port}/a", tmp_path / "a", 10)
    assert slept == [1, 2]
    assert not (tmp_path / "a").exists()
