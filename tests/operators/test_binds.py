"""Spec §13.6: where a task's `stdout` file lies in the job's home."""

from __future__ import annotations

import pytest

from prominence.operators.binds import home_relative

BINDS = [("/s/home/d", "/data")]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("out.log", "out.log"),
        ("/home/user/a/b.log", "a/b.log"),
        ("/data/x.log", "d/x.log"),  # an artifact's mountpoint: its directory in the home
        ("/etc/passwd", None),
        ("../../etc/x", None),
        ("/home/user", None),
        (None, None),
    ],
)
def test_paths_in_the_home_or_an_artifact_mount_and_nowhere_else(path, expected):
    assert home_relative(path, BINDS, "/s/home") == expected
