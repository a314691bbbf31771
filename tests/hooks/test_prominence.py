"""The PROMINENCE hook against a mocked API (httpx transport): URLs, auth and refusals as a DAG sees them."""

from __future__ import annotations

import json
from types import SimpleNamespace

import httpx
import pytest

from prominence.hooks.prominence import ProminenceError, ProminenceHook, base_url_of

URL = "http://api.test/prominence/v1"


@pytest.fixture
def api(monkeypatch):
    """Route every client the hook makes to `api.handler`; `api.requests` records what was sent."""
    state = SimpleNamespace(requests=[], handler=None)

    def transport(request: httpx.Request) -> httpx.Response:
        state.requests.append(request)
        return state.handler(request)

    original = ProminenceHook._client_kwargs

    def with_mock(self, base_url, token):
        return {**original(self, base_url, token), "transport": httpx.MockTransport(transport)}

    monkeypatch.setattr(ProminenceHook, "_client_kwargs", with_mock)
    monkeypatch.setenv("AIRFLOW_CONN_PROMINENCE_DEFAULT", json.dumps({"conn_type": "http", "host": URL, "password": "t0k"}))
    return state


def test_base_url_from_a_full_url_or_from_host_and_port():
    assert base_url_of(SimpleNamespace(host=URL + "/", port=None, schema=None)) == URL
    assert base_url_of(SimpleNamespace(host="10.0.0.1", port=8080, schema="https")) == "https://10.0.0.1:8080/prominence/v1"


def test_submit_sends_the_job_with_the_connection_token(api):
    api.handler = lambda request: httpx.Response(201, json={"id": 42})
    job = {"tasks": [{"image": "busybox", "cmd": "true"}]}
    assert ProminenceHook().submit_job(job) == 42
    (sent,) = api.requests
    assert (sent.method, str(sent.url)) == ("POST", f"{URL}/jobs")
    assert sent.headers["authorization"] == "Bearer t0k"
    assert json.loads(sent.content) == job


def test_a_refusal_raises_with_the_api_message(api):
    api.handler = lambda request: httpx.Response(400, json={"error": 'invalid item "args" in task'})
    with pytest.raises(ProminenceError, match='400: invalid item "args" in task') as raised:
        ProminenceHook().submit_job({"tasks": [{"args": []}]})
    assert raised.value.status == 400


def test_describe_and_output(api):
    def handler(request):
        if request.url.path.endswith("/stdout"):
            return httpx.Response(200, text="42\n")
        return httpx.Response(200, json=[] if request.url.path.endswith("/9") else [{"id": 3, "status": "running"}])

    api.handler = handler
    hook = ProminenceHook()
    assert hook.describe_job(3) == {"id": 3, "status": "running"}
    assert hook.describe_job(9) is None
    assert hook.job_output(3) == "42\n"
    assert api.requests[-1].url.params["offset"] == "0"


def test_explicit_url_and_token_need_no_connection(api, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_PROMINENCE_DEFAULT")
    api.handler = lambda request: httpx.Response(200, json=[])
    ProminenceHook(base_url="http://other/p", token="wf").describe_job(1)
    assert (str(api.requests[0].url), api.requests[0].headers["authorization"]) == ("http://other/p/jobs/1", "Bearer wf")
