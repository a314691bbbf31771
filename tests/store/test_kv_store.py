"""Key-value queries on a real SQLite database: owners apart, prefixes raw and case-sensitive."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from prominence.store import kv
from prominence.store.tables import metadata


@pytest.fixture
def session():
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with Session(engine) as session:
        yield session


@pytest.mark.parametrize(("raw", "key"), [("a/b", "a/b"), ("/a/b", "a/b"), ("//a//b/", "a/b/"), ("/", "")])
def test_normalise(raw, key):
    assert kv.normalise(raw) == key


def test_put_overwrites_and_owners_are_apart(session):
    kv.put(session, "alice", "k", b"one")
    kv.put(session, "alice", "k", b"two")
    kv.put(session, "bob", "k", b"bob's")
    assert kv.get(session, "alice", "k") == b"two"
    assert kv.get(session, "bob", "k") == b"bob's"
    assert kv.get(session, "carol", "k") is None


def test_prefix_is_raw_case_sensitive_and_per_owner(session):
    for path in ("a", "ab", "a/x", "A/y", "b"):
        kv.put(session, "bob", path, path.encode())
    kv.put(session, "bobby", "a/z", b"not bob's")
    assert [path for path, _ in kv.find(session, "bob", "a")] == ["a", "a/x", "ab"]
    assert [path for path, _ in kv.find(session, "bob")] == ["A/y", "a", "a/x", "ab", "b"]
    assert kv.remove(session, "bob", "a", prefix=True) == 3
    assert [path for path, _ in kv.find(session, "bob")] == ["A/y", "b"]
    assert kv.find(session, "bobby") == [("a/z", b"not bob's")]


def test_prefix_with_like_wildcards_matches_literally(session):
    kv.put(session, "alice", "100%/a", b"1")
    kv.put(session, "alice", "100x/a", b"2")
    kv.put(session, "alice", "a_b", b"3")
    kv.put(session, "alice", "axb", b"4")
    assert [path for path, _ in kv.find(session, "alice", "100%")] == ["100%/a"]
    assert [path for path, _ in kv.find(session, "alice", "a_")] == ["a_b"]


def test_remove_one_key_leaves_longer_ones(session):
    kv.put(session, "alice", "a", b"1")
    kv.put(session, "alice", "ab", b"2")
    assert kv.remove(session, "alice", "a") == 1
    assert kv.remove(session, "alice", "a") == 0
    assert kv.get(session, "alice", "ab") == b"2"


def test_replace_only_when_the_value_matches(session):
    assert not kv.replace(session, "alice", "k", b"old", b"new")
    assert kv.get(session, "alice", "k") is None
    kv.put(session, "alice", "k", b"old")
    assert not kv.replace(session, "alice", "k", b"other", b"new")
    assert kv.get(session, "alice", "k") == b"old"
    assert kv.replace(session, "alice", "k", b"old", b"new")
    assert kv.get(session, "alice", "k") == b"new"


def test_binary_values_round_trip(session):
    value = bytes(range(256)) * 4
    kv.put(session, "alice", "bin", value)
    assert kv.get(session, "alice", "bin") == value
