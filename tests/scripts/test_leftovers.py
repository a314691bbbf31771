"""The sweep of what a stopped stack left says what it found and how it ended each: by SIGTERM,
or by SIGKILL for a process that ignores SIGTERM."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from leftovers import MARKER, stack_processes, sweep  # noqa: E402

STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(flush=True); time.sleep(60)"


def test_a_sweep_reports_what_it_found_and_killed(tmp_path: Path) -> None:
    env = {**os.environ, MARKER: str(tmp_path)}
    polite = subprocess.Popen(["sleep", "60"], env=env, start_new_session=True)
    stubborn = subprocess.Popen([sys.executable, "-c", STUBBORN], env=env, stdout=subprocess.PIPE, start_new_session=True)
    stubborn.stdout.readline()  # its SIGTERM handler is in place
    try:
        swept = sweep(tmp_path, tmp_path, stack_processes(tmp_path, tmp_path))
    finally:
        for process in (polite, stubborn):
            process.kill()
            process.wait()
    assert set(swept.found) == {polite.pid, stubborn.pid}
    assert (swept.terminated, swept.killed, swept.survivors) == ([polite.pid], [stubborn.pid], [])
    lines = swept.lines()
    assert lines[0] == "2 process(es) of the stack were still running after it stopped:"
    assert f"  {polite.pid} sleep 60" in lines
    assert lines[-1] == "ended by SIGTERM: 1, killed by SIGKILL: 1"


def test_a_sweep_that_found_nothing_says_nothing(tmp_path: Path) -> None:
    assert sweep(tmp_path, tmp_path, {}).lines() == []
