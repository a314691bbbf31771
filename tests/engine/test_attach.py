"""What `exec` and snapshots keep of a command's output: all of it up to the limit, then nothing
more, and no wait past the deadline (engine/attach.py's copy loop, on real pipes)."""

from __future__ import annotations

import subprocess
import time

import pytest

from prominence.engine.attach import _copy


def _output(argv: list[str], limit: int, seconds: float = 5.0) -> tuple[bool, bytes]:
    process = subprocess.Popen(argv, stdout=subprocess.PIPE)
    chunks: list[bytes] = []
    try:
        return _copy(process.stdout, chunks.append, time.monotonic() + seconds, limit), b"".join(chunks)
    finally:
        process.kill()
        process.wait()
        process.stdout.close()


def test_output_within_the_limit_is_kept_whole() -> None:
    assert _output(["printf", "abc"], limit=3) == (True, b"abc")


def test_output_past_the_limit_is_cut_at_it() -> None:
    whole, kept = _output(["yes"], limit=100_000)
    assert not whole and kept == b"y\n" * 50_000


def test_a_silent_command_ends_at_the_deadline() -> None:
    with pytest.raises(TimeoutError):
        _output(["sleep", "30"], limit=10, seconds=0.5)
