"""Listing query parameters (spec §6.2) as the CLI sends them."""

import pytest
from starlette.requests import Request

from prominence.rest.errors import ApiError
from prominence.rest.listing import list_query


def query(qs: str):
    return list_query(Request({"type": "http", "query_string": qs.encode(), "headers": []}))


def test_default_is_active_only():
    q = query("num=1")
    assert (q.active, q.completed_limit, q.detail) == (True, 0, False)


def test_completed_returns_the_last_n():
    q = query("completed=true&num=5")
    assert (q.active, q.completed_limit) == (False, 5)


def test_completed_must_be_the_string_true():
    assert query("completed=yes").active is True


def test_all_is_a_presence_flag_and_unlimited():
    q = query("num=1&all=false")
    assert (q.active, q.completed_limit) == (True, -1)


def test_ids_imply_any_state():
    q = query("id=3,4")
    assert q.ids == [3, 4]


def test_workflow_ids_list_the_workflows_active_jobs():
    q = query("num=-1&id=7&workflow=true")
    assert (q.workflow_id, q.ids, q.active, q.completed_limit) == (7, None, True, 0)
    q = query("num=-1&all=true&id=7&workflow=true")
    assert (q.active, q.completed_limit) == (True, -1)


def test_status_filter_is_active_only():
    q = query("num=1&status=running")
    assert (q.status, q.active, q.completed_limit) == ("running", True, 0)


@pytest.mark.parametrize(
    "qs, message",
    [
        ("status=done", "invalid status specified"),
        ("constraint=a", "Invalid constraint"),
        ("constraint=a=b=c", "Invalid constraint"),
        ("id=x", "id must be an integer"),
        ("num=many", "num must be an integer"),
    ],
)
def test_bad_parameters_are_400(qs, message):
    with pytest.raises(ApiError) as err:
        query(qs)
    assert (err.value.status, err.value.message) == (400, message)


def test_first_constraint_wins_and_matches_labels():
    q = query("constraint=app%3Dx&constraint=k%3Dv")
    assert q.label == ("app", "x")
    assert q.matches_labels({"app": "x"}) and not q.matches_labels({"app": "y"}) and not q.matches_labels(None)
