"""stdout/stderr as a client reads them: from `offset` or a `Range`, streamed, at most
PROMINENCE_MAX_LOG_READ_BYTES per request, and never past PROMINENCE_MAX_LOG_BYTES (then a
marker says the log was cut); the writer's side cuts the file itself the same way."""

from __future__ import annotations

import pytest
from sqlalchemy import insert

from prominence.config import get_settings
from prominence.contract.sandbox import Sandbox, cap_log, cut_marker
from prominence.store.tables import jobs

LOG = b"0123456789" * 10


@pytest.fixture
def log(engine, as_user, monkeypatch, tmp_path):
    """Alice's job 1 whose stdout holds LOG; at most 30 bytes per request."""
    monkeypatch.setattr(get_settings(), "home", tmp_path)
    monkeypatch.setattr(get_settings(), "max_log_read_bytes", 30)
    with engine.begin() as connection:
        connection.execute(
            insert(jobs).values(id=1, uuid="u1", owner="alice", status="running", spec={"tasks": []}, create_time=1)
        )
    path = Sandbox.of("u1").log("stdout")
    path.parent.mkdir(parents=True)
    path.write_bytes(LOG)
    as_user("alice")
    return path


def test_offset_reads_at_most_the_maximum_per_request(client, log):
    first = client.get("/jobs/1/stdout")
    assert (first.status_code, first.content) == (200, LOG[:30])
    assert client.get("/jobs/1/stdout", params={"offset": 95}).content == LOG[95:]
    assert client.get("/jobs/1/stdout", params={"offset": 2**70}).content == b""
    assert client.get("/jobs/1/stdout", params={"offset": -5}).content == LOG[:30]


def test_a_range_answers_206_with_its_bytes(client, log):
    part = client.get("/jobs/1/stdout", headers={"Range": "bytes=10-19"})
    assert (part.status_code, part.content, part.headers["content-range"]) == (206, LOG[10:20], "bytes 10-19/100")
    capped = client.get("/jobs/1/stdout", headers={"Range": "bytes=50-"})
    assert (capped.status_code, capped.content, capped.headers["content-range"]) == (206, LOG[50:80], "bytes 50-79/100")
    past = client.get("/jobs/1/stdout", headers={"Range": "bytes=100-"})
    assert (past.status_code, past.json()) == (416, {"error": "Range not satisfiable: the stdout holds 100 bytes"})
    ignored = client.get("/jobs/1/stdout", headers={"Range": "lines=1-2"})
    assert (ignored.status_code, ignored.content) == (200, LOG[:30])


def test_a_log_over_the_stored_cap_is_served_cut_with_a_marker(client, log, monkeypatch):
    monkeypatch.setattr(get_settings(), "max_log_bytes", 40)
    monkeypatch.setattr(get_settings(), "max_log_read_bytes", 1000)
    served = client.get("/jobs/1/stdout").content
    assert served == LOG[:40] + cut_marker(40)
    assert client.get("/jobs/1/stdout", params={"offset": 45}).content == cut_marker(40)[5:]


def test_cap_log_cuts_the_file_once_and_again_after_more_appends(tmp_path):
    path = tmp_path / "stdout"
    path.write_bytes(LOG)
    assert cap_log(path, 40) and path.read_bytes() == LOG[:40] + cut_marker(40)
    assert not cap_log(path, 40)
    with path.open("ab") as writer:
        writer.write(b"more output")
    assert cap_log(path, 40) and path.read_bytes() == LOG[:40] + cut_marker(40)
    assert not cap_log(tmp_path / "absent", 40)
