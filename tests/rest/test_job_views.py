"""The list without detail, whose finished entries are rendered once: what it sends is what a
list built afresh would send, whatever changed in between."""

from __future__ import annotations

from sqlalchemy import update

from prominence.engine import live
from prominence.rest import job_views
from prominence.store.tables import jobs
from tests.rest.test_routes import stored

BRIEF = {"completed": "true", "num": "10"}


def fresh(client) -> list[dict]:
    """The same list with nothing rendered before."""
    job_views.rendered = job_views.RenderedEntries()
    return client.get("/jobs", params=BRIEF).json()


def test_a_list_served_again_is_the_one_built_afresh(client, engine, as_user):
    for job_id in (1, 2, 3):
        stored(engine, jobs, id=job_id, name=f"j{job_id}", in_queue=False, end_time=10 + job_id, start_time=5)
    as_user("alice")
    first = client.get("/jobs", params=BRIEF).json()
    assert [view["id"] for view in first] == [3, 2, 1]
    assert client.get("/jobs", params=BRIEF).json() == first == fresh(client)


def test_a_finished_job_is_rendered_once(client, engine, as_user, monkeypatch):
    for job_id in (1, 2):
        stored(engine, jobs, id=job_id, name=f"j{job_id}", in_queue=False, end_time=10 + job_id)
    rendered: list[int] = []
    present = job_views.present
    monkeypatch.setattr(
        job_views, "present", lambda session, rows, **kw: rendered.extend(r.id for r in rows) or present(session, rows, **kw)
    )
    as_user("alice")
    first = client.get("/jobs", params=BRIEF).json()
    assert client.get("/jobs", params=BRIEF).json() == first
    assert sorted(rendered) == [1, 2]


def test_what_changes_in_a_finished_job_shows_in_the_next_list(client, engine, as_user):
    stored(engine, jobs, id=1, name="j", in_queue=False, end_time=10, status="failed", status_reason="Killed")
    as_user("alice")
    assert client.get("/jobs", params=BRIEF).json()[0]["statusReason"] == "Killed"
    with engine.begin() as connection:
        connection.execute(update(jobs).where(jobs.c.id == 1).values(status_reason="Exit code 1", end_time=12))
    listed = client.get("/jobs", params=BRIEF).json()
    assert listed[0]["statusReason"] == "Exit code 1" and listed[0]["events"]["endTime"] == 12
    assert listed == fresh(client)


def test_a_job_in_the_queue_is_shown_live_and_finished_ones_never_match_a_status(client, engine, as_user, monkeypatch):
    # Airflow's task instances are not in the test's database: the job's start is given here.
    started: dict[int, int] = {}
    monkeypatch.setattr(live, "start_times", lambda session, job_ids: started)
    stored(engine, jobs, id=1, name="done", in_queue=True, end_time=10)
    stored(engine, jobs, id=2, name="waiting", status="idle")
    as_user("alice")
    assert [view["name"] for view in client.get("/jobs").json()] == ["done", "waiting"]
    assert [view["name"] for view in client.get("/jobs", params={"status": "idle"}).json()] == ["waiting"]
    started[2] = 100
    assert [view["status"] for view in client.get("/jobs").json()] == ["completed", "running"]
    assert [view["events"].get("startTime") for view in client.get("/jobs", params={"status": "running"}).json()] == [100]
    with engine.begin() as connection:
        connection.execute(update(jobs).where(jobs.c.id == 2).values(status="completed", end_time=11))
    assert [view["status"] for view in client.get("/jobs").json()] == ["completed", "completed"]
    assert client.get("/jobs", params={"status": "idle"}).json() == []


def test_only_the_callers_jobs_are_listed_whatever_was_rendered(client, engine, as_user):
    stored(engine, jobs, id=1, name="alices", in_queue=False, end_time=10)
    as_user("alice")
    assert len(client.get("/jobs", params=BRIEF).json()) == 1
    as_user("bob")
    assert client.get("/jobs", params=BRIEF).json() == []


def test_a_label_constraint_filters_the_list(client, engine, as_user):
    stored(engine, jobs, id=1, name="a", in_queue=False, end_time=10, labels={"k": "1"})
    stored(engine, jobs, id=2, name="b", in_queue=False, end_time=11, labels={"k": "2"})
    as_user("alice")
    client.get("/jobs", params=BRIEF)
    assert [view["name"] for view in client.get("/jobs", params=BRIEF | {"constraint": "k=1"}).json()] == ["a"]


def test_the_rendered_entries_are_bounded():
    entries = job_views.RenderedEntries(limit=2)
    for n in range(3):
        entries.put((n,), b"{}")
    assert entries.get((0,)) is None and entries.get((2,)) == b"{}"
