"""The UI role of a workflow's owner: one per user, always a name FAB's role table can hold."""

from __future__ import annotations

from prominence.contract.workflows import owner_role


def test_each_user_has_a_role_of_their_own():
    assert owner_role("alice") == "ProminenceUser:alice"
    assert owner_role("alice") != owner_role("bob")


def test_a_long_user_name_gets_a_role_that_fits_and_stays_distinct():
    long_names = ["x" * 60 + "a", "x" * 60 + "b"]
    roles = [owner_role(name) for name in long_names]
    assert all(len(role) <= 64 for role in roles) and roles[0] != roles[1]
