"""Object keys (spec §9): private and group areas, and names that must never become keys."""

import pytest

from prominence.contract import keys as layout


@pytest.mark.parametrize(
    "name", ["", "/abs", "a/../b", "..", ".", "a//b", "a/", "a/./b", "a\\b", "a\x00b", "x" * 901, "tab\there"]
)
def test_unsafe_names_are_refused_not_normalised(name):
    with pytest.raises(layout.InvalidName):
        layout.upload_key(name, "alice", ["team"])


def test_a_plain_name_is_private_and_a_path_is_a_group_area():
    assert layout.upload_key("data.tgz", "alice", []) == "uploads/alice/data.tgz"
    assert layout.upload_key("team/sub/x", "alice", ["team"]) == "uploads/team/sub/x"
    with pytest.raises(layout.NotAuthorized):
        layout.upload_key("bob/x", "alice", ["team"])
    with pytest.raises(layout.NotAuthorized):
        layout.upload_key("teamx/x", "alice", ["team"])  # a prefix of a group name is not the group


def test_group_listing_prefix_is_inside_a_group():
    assert layout.group_prefix("team", ["team"]) == "uploads/team/"
    assert layout.group_prefix("team/", ["team"]) == "uploads/team/"
    assert layout.group_prefix("team/su", ["team"]) == "uploads/team/su"
    assert layout.group_prefix("team/sub/", ["team"]) == "uploads/team/sub/"
    with pytest.raises(layout.NotAuthorized):
        layout.group_prefix("alice", ["team"])
    with pytest.raises(layout.InvalidName):
        layout.group_prefix("team/../alice", ["team"])


def test_a_group_named_like_the_start_of_a_user_lists_only_the_group():
    assert not "uploads/alice/secret".startswith(layout.group_prefix("a", ["a"]))


def test_outputs_use_their_basename_under_the_job():
    assert layout.scratch_key("u-1", "out/a.txt") == "scratch/u-1/a.txt"
    assert layout.scratch_key("u-1", "results/", directory=True) == "scratch/u-1/results.tgz"
    with pytest.raises(layout.InvalidName):
        layout.scratch_key("u-1", "..")
