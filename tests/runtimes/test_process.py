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
