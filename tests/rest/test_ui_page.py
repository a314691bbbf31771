"""The PROMINENCE page of the Airflow UI, and the UI's token cookie standing in for a bearer on GETs."""

from __future__ import annotations

from prominence.auth.tokens import mint_token
from prominence.rest.deps import AIRFLOW_UI_COOKIE


def test_the_page_names_the_logged_in_user_and_calls_the_api(client):
    client.cookies.set(AIRFLOW_UI_COOKIE, mint_token("alice<b>"))
    page = client.get("/ui/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "alice&lt;b&gt;" in page.text and "alice<b>" not in page.text
    assert '"/prominence/v1"' in page.text and "/jobs?all&detail" in page.text


def test_the_cookie_lists_the_users_own_jobs(client):
    client.cookies.set(AIRFLOW_UI_COOKIE, mint_token("alice"))
    assert client.get("/jobs").json() == []


def test_without_a_login_the_page_and_the_api_are_refused(client):
    assert client.get("/ui/").status_code == 401
    assert client.get("/jobs").json() == {"error": "Authentication failure"}


def test_the_cookie_never_authorizes_a_change(client):
    client.cookies.set(AIRFLOW_UI_COOKIE, mint_token("alice"))
    created = client.post("/jobs", json={"tasks": [{"image": "busybox", "cmd": "true"}]})
    assert created.status_code == 401
    assert client.delete("/jobs?id=1").status_code == 401
