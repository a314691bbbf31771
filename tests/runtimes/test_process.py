"""The process manager keeps a running task's stored logs within PROMINENCE_MAX_LOG_BYTES and
copies the container's output into the task log."""

import logging
import threading
import time

from prominence.config import get_settings
from prominence.contract.sandbox import cut_marker
from prominence.runtimes import get_runtime
from prominence.runtimes.process import ProcessManager
from prominence.runtimes.spec import RunSpec


def test_a_log_past_the_cap_is_cut_with_a_marker(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMINENCE_MAX_LOG_BYTES", "100")
    get_settings.cache_clear()
    runtime = get_runtime("noop")
    steps = " ; ".join(["echo " + "x" * 60] * 10 + ["sleep 1.5", "echo after the cut"])
    spec = _spec(tmp_path, steps)
    try:
        result = ProcessManager(runtime, spec).run()
    finally:
        get_settings.cache_clear()
    stored = spec.stdout.read_bytes()
    assert result.exit_code == 0
    assert stored.startswith(b"x" * 60) and stored[100:].startswith(cut_marker(100))
    assert len(stored) <= 100 + len(cut_marker(100)) + len(b"after the cut\n")


def _spec(tmp_path, steps: str, **extra) -> RunSpec:
    runtime = get_runtime("noop")
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return RunSpec(
        image=runtime.pull("noop:1", tmp_path),
        command=tuple(steps.split()),
        env=extra.pop("env", {}),
        workdir=str(home),
        home=home,
        tmp=tmp_path,
        stdout=tmp_path / "stdout",
        stderr=tmp_path / "stderr",
        usage=tmp_path / "usage",
        walltime_seconds=30,
        **extra,
    )


def test_a_task_stdout_file_gets_the_output_with_stderr_merged(tmp_path):
    spec = _spec(tmp_path, "echo out ; warn err ; echo more", stdout_copy="logs/task.log")
    assert ProcessManager(get_runtime("noop"), spec).run().exit_code == 0
    assert (spec.home / "logs" / "task.log").read_text() == spec.stdout.read_text() == "out\nerr\nmore\n"
    assert spec.stderr.read_bytes() == b""


def test_a_task_stdout_file_never_follows_a_link_out_of_the_home(tmp_path):
    outside = tmp_path / "outside"
    outside.write_text("kept\n")
    spec = _spec(tmp_path, "echo out", stdout_copy="link/task.log")
    (spec.home / "link").symlink_to(tmp_path)
    (spec.home / "file").symlink_to(outside)
    assert ProcessManager(get_runtime("noop"), spec).run().exit_code == 0
    spec = _spec(tmp_path, "echo again", stdout_copy="file")
    assert ProcessManager(get_runtime("noop"), spec).run().exit_code == 0
    assert outside.read_text() == "kept\n" and not (tmp_path / "task.log").exists()
    assert spec.stdout.read_text() == "out\nagain\n"


def test_the_containers_output_is_in_the_task_log_as_it_runs(tmp_path, caplog):
    """Each line the run writes shows in the task's log with its stream, while it runs, the job's
    token hidden; earlier content of the job's files (an earlier task's) does not."""
    steps = "echo first ; warn oops ; sleep 2.5 ; echo last the-jobs-token"
    spec = _spec(tmp_path, steps, env={"PROMINENCE_TOKEN": "the-jobs-token"})
    spec.stdout.write_text("an earlier task\n")
    logger = logging.getLogger("task-log-test")
    manager = ProcessManager(get_runtime("noop"), spec, logger)
    with caplog.at_level(logging.INFO, logger="task-log-test"):
        thread = threading.Thread(target=manager.run)
        thread.start()
        deadline = time.monotonic() + 10
        while "[stdout] first" not in caplog.messages and time.monotonic() < deadline:
            time.sleep(0.1)
        assert thread.is_alive(), "the line must show while the run still runs"
        thread.join(30)
    output = [message for message in caplog.messages if message.startswith("[")]
    assert output == ["[stdout] first", "[stderr] oops", "[stdout] last ***"]


def test_the_task_log_takes_at_most_its_cap_of_output(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(get_settings(), "task_log_bytes", 25)
    spec = _spec(tmp_path, " ; ".join(["echo " + "y" * 10] * 5))
    with caplog.at_level(logging.INFO, logger="task-log-cap"):
        ProcessManager(get_runtime("noop"), spec, logging.getLogger("task-log-cap")).run()
    assert [m for m in caplog.messages if m.startswith("[stdout]")] == ["[stdout] " + "y" * 10] * 3
    assert any("the rest is in the job's stdout and stderr only" in m for m in caplog.messages)
