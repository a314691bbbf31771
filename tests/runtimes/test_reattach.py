"""A run is started once: a later process manager of the same run re-attaches to it while it
runs, takes its result once it has ended, and starts it again only when it was stopped from
outside or left no result. The starter here is another process that exits without waiting, as
a task process killed with its scheduler does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from prominence.contract.sandbox import Sandbox
from prominence.runtimes import execution, get_runtime
from prominence.runtimes.process import ProcessManager
from prominence.runtimes.spec import RunSpec

STARTER = """
import json, sys
from pathlib import Path
from prominence.runtimes import get_runtime
from prominence.runtimes.process import ProcessManager
from prominence.runtimes.spec import RunSpec
fields = json.loads(sys.argv[1])
for name in ("home", "tmp", "stdout", "stderr", "usage"):
    fields[name] = Path(fields[name])
runtime = get_runtime("noop")
ProcessManager(runtime, RunSpec(image=runtime.pull("noop:1", fields["tmp"]), **fields)).run()
"""


@pytest.fixture
def spec_of(tmp_path: Path):
    def make(steps: str, walltime: float = 30) -> RunSpec:
        runtime = get_runtime("noop")
        (tmp_path / "home").mkdir(exist_ok=True)
        return RunSpec(
            image=runtime.pull("noop:1", tmp_path),
            command=tuple(steps.split()),
            env={},
            workdir=str(tmp_path / "home"),
            home=tmp_path / "home",
            tmp=tmp_path,
            stdout=tmp_path / "stdout",
            stderr=tmp_path / "stderr",
            usage=tmp_path / "usage-0",
            walltime_seconds=walltime,
        )

    return make


def start_elsewhere(spec: RunSpec) -> dict:
    """Start the run in a process that is killed once the run has printed its first line; return
    the run's record."""
    fields = {name: str(getattr(spec, name)) for name in ("home", "tmp", "stdout", "stderr", "usage", "workdir")}
    fields |= {"command": list(spec.command), "env": {}, "walltime_seconds": spec.walltime_seconds}
    starter = subprocess.Popen([sys.executable, "-c", STARTER, json.dumps(fields)])
    deadline = time.monotonic() + 20
    while (record := execution.Execution(spec.usage).record()) is None or not spec.stdout.read_text():
        assert time.monotonic() < deadline and starter.poll() is None, "the run was not started"
        time.sleep(0.02)
    starter.kill()
    starter.wait()
    return record


def manager(spec: RunSpec) -> ProcessManager:
    return ProcessManager(get_runtime("noop"), spec)


def test_a_running_run_is_re_attached_to_and_its_exit_code_taken(spec_of) -> None:
    spec = spec_of("echo started ; sleep 1 ; echo done ; exit 3")
    record = start_elsewhere(spec)
    assert execution.running(record)
    result = manager(spec).run()
    assert (result.exit_code, result.timed_out) == (3, False)
    assert result.wall_seconds >= 1
    assert spec.stdout.read_text() == "started\ndone\n"


def test_what_runs_beside_is_started_first_and_again_on_re_attach_but_not_for_a_result(spec_of) -> None:
    """`beside` (the job's sidecars) starts before the run's command, again when a later try
    re-attaches to the run (an unconfined run has no namespace: None), never for an ended run."""
    spec = spec_of("echo started ; sleep 1 ; exit 0")
    seen: list[tuple[object, str]] = []

    def beside(network) -> None:
        seen.append((network, spec.stdout.read_text() if spec.stdout.exists() else ""))

    start_elsewhere(spec)
    assert manager(spec).run(beside).exit_code == 0
    assert seen == [(None, "started\n")]
    assert manager(spec).run(beside).exit_code == 0
    assert len(seen) == 1

    spec = spec_of("echo again ; exit 0")
    assert manager(spec).run(beside).exit_code == 0
    assert seen[1] == (None, "started\n"), "started before the new run's command"


def test_a_run_started_afresh_ends_what_an_earlier_try_left_running(spec_of) -> None:
    spec = spec_of("echo started ; sleep 60")
    left = start_elsewhere(spec)
    fresh = manager(spec)
    fresh.start_afresh()
    assert not execution.running(left)
    assert fresh.pid != left["pid"] and execution.running(fresh.execution.record())
    fresh.kill()
    assert fresh.wait() is None


def test_an_ended_run_is_not_run_again(spec_of) -> None:
    spec = spec_of("echo started ; exit 0")
    record = start_elsewhere(spec)
    while execution.running(record):
        time.sleep(0.02)
    assert [manager(spec).run().exit_code for _ in range(2)] == [0, 0]
    assert spec.stdout.read_text() == "started\n"


def test_the_walltime_left_is_enforced_on_a_re_attached_run(spec_of) -> None:
    spec = spec_of("echo started ; sleep 60", walltime=1.5)
    start_elsewhere(spec)
    started = time.monotonic()
    result = manager(spec).run()
    assert result.timed_out and result.exit_code != 0
    assert time.monotonic() - started < 5


def stop_elsewhere(spec, sig: int) -> None:
    """Start the run in another process, then end it with `sig` and wait until it is gone."""
    record = start_elsewhere(spec)
    os.killpg(record["pid"], sig)
    while execution.running(record):
        time.sleep(0.02)


def test_a_run_stopped_from_outside_runs_again(spec_of) -> None:
    """The stack's sweep at `down` SIGTERMs every process it left: that run counts for nothing."""
    spec = spec_of("echo started ; sleep 60")
    stop_elsewhere(spec, signal.SIGTERM)
    assert execution.Execution(spec.usage).ended()["interrupted"]
    spec = spec_of("echo started ; exit 0")
    assert manager(spec).run().exit_code == 0
    assert spec.stdout.read_text() == "started\nstarted\n"


def test_a_run_that_left_no_result_runs_again(spec_of) -> None:
    spec = spec_of("echo started ; sleep 60")
    stop_elsewhere(spec, signal.SIGKILL)
    assert execution.Execution(spec.usage).ended() is None
    spec = spec_of("echo again ; exit 0")
    assert manager(spec).run().exit_code == 0
    assert spec.stdout.read_text() == "started\nagain\n"


def test_a_run_never_let_go_is_ended_and_started_afresh(spec_of) -> None:
    """A confined run waits for its starter's word before running its command: a starter that
    died first left a run that never ran it, so its exit is no result of the task's."""
    spec = spec_of("echo ran ; exit 0")
    waiting = subprocess.Popen(["sleep", "60"], start_new_session=True)
    run = execution.Execution(spec.usage, execution.run_key(spec))
    run.started(waiting.pid, time.time(), None, None, released=False)
    assert manager(spec).run().exit_code == 0
    assert waiting.wait(5) == -signal.SIGKILL
    assert spec.stdout.read_text() == "ran\n"
    assert run.record()["released"]


def test_a_detached_run_keeps_running_for_the_next_manager(spec_of) -> None:
    spec = spec_of("echo started ; sleep 1 ; exit 5")
    first = manager(spec)
    results = []
    thread = threading.Thread(target=lambda: results.append(first.run()))
    thread.start()
    while not spec.stdout.exists() or spec.stdout.read_text() != "started\n":
        time.sleep(0.02)
    first.detach()
    thread.join(5)
    assert results == [None]
    assert manager(spec).run().exit_code == 5
    assert spec.stdout.read_text() == "started\n"


def test_reports_are_never_read_half_written(tmp_path: Path) -> None:
    """Two tries of a task may write its report while the API reads it."""
    sandbox = Sandbox(tmp_path)
    (tmp_path / "json").mkdir()
    sandbox.write_report(0, {"n": 0})
    stop = threading.Event()

    def write(n: int) -> None:
        while not stop.is_set():
            sandbox.write_report(0, {"n": n, "padding": "x" * 100_000})

    writers = [threading.Thread(target=write, args=(n,)) for n in (1, 2)]
    for writer in writers:
        writer.start()
    try:
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:
            assert sandbox.read_report(0)["n"] in (0, 1, 2)
    finally:
        stop.set()
        for writer in writers:
            writer.join()
