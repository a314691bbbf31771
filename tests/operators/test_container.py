"""ContainerTaskOperator with the noop runtime: what a task reports, when it skips, fails or is
rescheduled, with a real process (group, walltime, kill) but no container."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowRescheduleException, AirflowSkipException

from prominence.contract.tasks import CONF_KEY, REPORT_KEY, WALLTIME_EXCEEDED
from prominence.operators.container import ContainerTaskOperator
from prominence.runtimes import execution


def job(*commands: str, image: str = "noop:1", **fields: Any) -> dict[str, Any]:
    tasks = [{"image": image, "runtime": "noop", "cmd": command} for command in commands]
    return {"tasks": tasks, "resources": {"cpus": 1, "memory": 1, "walltime": 1}, **fields}


def run_task(sandbox, index: int = 0, ti=None):
    context = sandbox.context(ti)
    ContainerTaskOperator(task_id="task", index=index).execute(context)
    return context["ti"]


def test_a_task_runs_and_reports(make_sandbox) -> None:
    sandbox = make_sandbox(job("echo hello ; env PROMINENCE_JOB_ID ; env HOME ; write out.txt done", "echo again"))
    ti = run_task(sandbox)
    report = sandbox.read_report(0)
    assert ti.pushed[REPORT_KEY] == report
    assert (report["exitCode"], report["succeeded"], report["final"], report["retries"]) == (0, True, True, 0)
    assert (report["imagePullStatus"], report["runtime"], report["runtimeVersion"]) == ("completed", "noop", "0")
    assert report["wallTimeUsage"] > 0 and report["maxResidentSetSizeKB"] > 0
    assert "imagePullTime" in report and "error" not in report
    assert sandbox.log("stdout").read_text() == "hello\n7\n/home/user\n"
    assert (sandbox.home / "out.txt").read_text() == "done"

    run_task(sandbox, 1)
    assert sandbox.read_report(1)["imagePullStatus"] == "cached"
    assert "imagePullTime" not in sandbox.read_report(1)
    assert sandbox.log("stdout").read_text().endswith("/home/user\nagain\n")


def test_a_working_directory_in_the_home_is_created(make_sandbox) -> None:
    sandbox = make_sandbox({"tasks": [{"image": "noop:1", "runtime": "noop", "cmd": "write f x", "workdir": "w/x"}]})
    run_task(sandbox)
    assert (sandbox.home / "w" / "x" / "f").read_text() == "x"


def test_a_nonzero_exit_fails_the_task_and_is_final_on_the_last_try(make_sandbox, make_ti) -> None:
    sandbox = make_sandbox(job("warn oops ; exit 3"))
    with pytest.raises(RuntimeError, match="exited with code 3"):
        run_task(sandbox, ti=make_ti(try_number=1, max_tries=1))
    assert sandbox.read_report(0) | {"exitCode": 3, "succeeded": False, "final": False} == sandbox.read_report(0)
    assert sandbox.log("stderr").read_text() == "oops\n"

    with pytest.raises(AirflowFailException, match="exited with code 3"):
        run_task(sandbox, ti=make_ti(try_number=2, max_tries=1))
    assert (sandbox.read_report(0)["final"], sandbox.read_report(0)["retries"]) == (True, 1)
    assert sandbox.log("stderr").read_text() == "oops\noops\n", "the policy's retry is a new run"


def test_a_failure_without_task_retries_is_final_though_airflow_has_tries_left(make_sandbox, make_ti) -> None:
    """Airflow's tries beyond the job's task retries are for a try that died: a task that
    exited non-zero ends with AirflowFailException, which Airflow never retries."""
    sandbox = make_sandbox(job("exit 3"))
    context = sandbox.context(make_ti(try_number=1, max_tries=3))
    context["dag_run"].conf[CONF_KEY]["task_retries"] = 0
    with pytest.raises(AirflowFailException, match="exited with code 3"):
        ContainerTaskOperator(task_id="task", index=0).execute(context)
    assert (sandbox.read_report(0)["final"], sandbox.read_report(0)["retries"]) == (True, 0)


def test_the_walltime_covers_all_tasks_and_kills_the_last(make_sandbox, make_ti) -> None:
    sandbox = make_sandbox(job("exit 0", "echo started ; sleep 60"))
    sandbox.write_report(0, {"index": 0, "final": True, "succeeded": True, "wallTimeUsage": 59.5})
    started = time.monotonic()
    with pytest.raises(AirflowFailException, match="Walltime limit exceeded"):
        run_task(sandbox, 1, ti=make_ti(try_number=1, max_tries=3))
    assert time.monotonic() - started < 10
    report = sandbox.read_report(1)
    assert (report["error"], report["succeeded"], report["final"]) == (WALLTIME_EXCEEDED, False, True)
    assert report["exitCode"] != 0
    assert 0.5 <= report["wallTimeUsage"] < 5


def test_a_failed_predecessor_skips_later_tasks(make_sandbox) -> None:
    sandbox = make_sandbox(job("exit 0", "write ran yes", "write ran yes"))
    sandbox.write_report(0, {"index": 0, "final": True, "succeeded": False, "exitCode": 1})
    with pytest.raises(AirflowSkipException):
        run_task(sandbox, 1)
    assert sandbox.read_report(1) == {"index": 1, "skipped": True, "final": True}
    with pytest.raises(AirflowSkipException):
        run_task(sandbox, 2)
    assert not (sandbox.home / "ran").exists()


def test_ignore_task_failures_runs_after_a_failed_task(make_sandbox) -> None:
    sandbox = make_sandbox(job("exit 1", "write ran yes", policies={"ignoreTaskFailures": True}))
    sandbox.write_report(0, {"index": 0, "final": True, "succeeded": False, "exitCode": 1})
    run_task(sandbox, 1)
    assert (sandbox.home / "ran").read_text() == "yes"


def test_ignore_task_failures_does_not_outlast_a_walltime_kill(make_sandbox) -> None:
    sandbox = make_sandbox(job("exit 0", "write ran yes", policies={"ignoreTaskFailures": True}))
    sandbox.write_report(0, {"index": 0, "final": True, "succeeded": False, "error": WALLTIME_EXCEEDED})
    with pytest.raises(AirflowSkipException):
        run_task(sandbox, 1)


def test_a_task_waits_for_its_predecessors_final_report(make_sandbox) -> None:
    sandbox = make_sandbox(job("exit 0", "exit 0"))
    with pytest.raises(AirflowRescheduleException):
        run_task(sandbox, 1)
    sandbox.write_report(0, {"index": 0, "final": False, "succeeded": False})
    with pytest.raises(AirflowRescheduleException):
        run_task(sandbox, 1)
    assert sandbox.read_report(1) is None


def test_an_image_pull_failure_fails_the_task_without_running_it(make_sandbox, make_ti) -> None:
    sandbox = make_sandbox(job("write ran yes", image="noop:missing"))
    ti = make_ti(try_number=1, max_tries=2)
    with pytest.raises(AirflowFailException, match="Container image pull failed: noop:missing"):
        run_task(sandbox, ti=ti)
    report = sandbox.read_report(0)
    assert ti.pushed[REPORT_KEY] == report
    assert (report["imagePullStatus"], report["final"], report["succeeded"]) == ("failed", True, False)
    assert "exitCode" not in report
    assert not (sandbox.home / "ran").exists()


def start_in_thread(operator: ContainerTaskOperator, context: dict[str, Any]) -> tuple[threading.Thread, list]:
    raised: list[BaseException] = []

    def execute() -> None:
        try:
            operator.execute(context)
        except BaseException as exc:  # noqa: BLE001
            raised.append(exc)

    thread = threading.Thread(target=execute)
    thread.start()
    return thread, raised


def wait_for_stdout(sandbox, text: str) -> None:
    deadline = time.monotonic() + 10
    while sandbox.log("stdout").read_text() != text:
        assert time.monotonic() < deadline, "the task never started"
        time.sleep(0.02)


def let_go_of_first_try(sandbox, index: int, started: str, make_ti) -> ContainerTaskOperator:
    """Run try 1 of task `index` until its stdout is `started`, then stop it as a scheduler
    that resets it as orphaned does (the run is let go of); it asks to be rescheduled."""
    operator = ContainerTaskOperator(task_id="task", index=index)
    thread, raised = start_in_thread(operator, sandbox.context(make_ti(try_number=1)))
    wait_for_stdout(sandbox, started)
    operator.on_kill()
    thread.join(10)
    assert [type(exc) for exc in raised] == [AirflowRescheduleException]
    return operator


def test_a_deleted_jobs_task_stops_its_process_within_seconds_and_is_rescheduled(make_sandbox) -> None:
    sandbox = make_sandbox(job("echo started ; sleep 60"))
    operator = ContainerTaskOperator(task_id="task", index=0)
    thread, raised = start_in_thread(operator, sandbox.context())
    wait_for_stdout(sandbox, "started\n")
    sandbox.stop_file.touch()  # as the api-server's delete does before failing the run
    killed = time.monotonic()
    operator.on_kill()
    thread.join(10)
    assert time.monotonic() - killed < 3
    assert [type(exc) for exc in raised] == [AirflowRescheduleException]
    assert sandbox.read_report(0) is None
    assert not execution.running(operator._manager.execution.record())


def test_a_task_stopped_otherwise_leaves_its_run_to_the_next_try(make_sandbox, make_ti) -> None:
    """The scheduler died and reset the task as orphaned: the next try re-attaches, the
    container runs once."""
    sandbox = make_sandbox(job("echo started ; sleep 1.5 ; echo done ; exit 4"))
    operator = let_go_of_first_try(sandbox, 0, "started\n", make_ti)
    assert execution.running(operator._manager.execution.record())

    with pytest.raises(AirflowFailException, match="exited with code 4"):
        run_task(sandbox, ti=make_ti(try_number=2))
    report = sandbox.read_report(0)
    assert (report["exitCode"], report["final"], report["imagePullStatus"], report["retries"]) == (4, True, "cached", 0)
    assert report["wallTimeUsage"] >= 1.5
    assert sandbox.log("stdout").read_text() == "started\ndone\n"

    with pytest.raises(AirflowFailException, match="exited with code 4"):
        run_task(sandbox, ti=make_ti(try_number=3))
    assert sandbox.log("stdout").read_text() == "started\ndone\n", "a finished run is taken, not run again"


def test_a_sidecar_runs_beside_each_other_task_and_stops_with_it(make_sandbox) -> None:
    described = job("echo side ; sleep 60", "sleep 1 ; echo main", "sleep 1 ; echo second")
    described["tasks"][0]["type"] = "sidecar"
    sandbox = make_sandbox(described)
    sidecar_ti = run_task(sandbox, 0)
    assert REPORT_KEY not in sidecar_ti.pushed  # no execution.tasks entry
    started = time.monotonic()
    ti = run_task(sandbox, 1)
    assert time.monotonic() - started < 10  # not the sidecar's 60 s
    assert ti.pushed[REPORT_KEY]["succeeded"]
    run_task(sandbox, 2)
    assert sandbox.log("stdout").read_text() == "side\nmain\nside\nsecond\n"


def test_a_re_attached_task_gets_its_sidecars_started_again_beside_it(make_sandbox, make_ti) -> None:
    """The first try let go of the task's run and stopped its sidecar: the next try re-attaches
    to the run and starts the sidecar beside it again; the task ran once."""
    described = job("echo side ; sleep 60", "sleep 1 ; echo started ; sleep 3 ; echo done")
    described["tasks"][0]["type"] = "sidecar"
    sandbox = make_sandbox(described)
    run_task(sandbox, 0)
    let_go_of_first_try(sandbox, 1, "side\nstarted\n", make_ti)

    ti = run_task(sandbox, 1, ti=make_ti(try_number=2))
    assert ti.pushed[REPORT_KEY]["succeeded"]
    assert sandbox.log("stdout").read_text() == "side\nstarted\nside\ndone\n"
