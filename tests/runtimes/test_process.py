"""The process manager keeps a running task's stored logs within PROMINENCE_MAX_LOG_BYTES."""

from prominence.config import get_settings
from prominence.contract.sandbox import cut_marker
from prominence.runtimes import get_runtime
from prominence.runtimes.process import ProcessManager
from prominence.runtimes.spec import RunSpec


def test_a_log_past_the_cap_is_cut_with_a_marker(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMINENCE_MAX_LOG_BYTES", "100")
    get_settings.cache_clear()
    runtime = get_runtime("noop")
    home = tmp_path / "home"
    home.mkdir()
    steps = " ; ".join(["echo " + "x" * 60] * 10 + ["sleep 1.5", "echo after the cut"])
    spec = RunSpec(
        image=runtime.pull("noop:1", tmp_path),
        command=tuple(steps.split()),
        env={},
        workdir=str(home),
        home=home,
        tmp=tmp_path,
        stdout=tmp_path / "stdout",
        stderr=tmp_path / "stderr",
        usage=tmp_path / "usage",
        walltime_seconds=30,
    )
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
        env={},
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
