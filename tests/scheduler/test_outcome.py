"""Terminal status and execution of a job from its task reports (spec §5.3, §4.2)."""

from prominence.scheduler.outcome import outcome_from_reports

PROVISIONED = {"cpus": 1, "memory": 1, "disk": 10, "nodes": 1}


def report(index, **fields):
    base = {
        "index": index,
        "imagePullStatus": "completed",
        "imagePullTime": 0.2,
        "imageSha256": "abc",
        "exitCode": 0,
        "retries": 0,
        "wallTimeUsage": 0.5,
        "cpuTimeUsage": 0.1,
        "maxResidentSetSizeKB": 1000,
        "succeeded": True,
        "final": True,
        "startTime": 100 + index,
        "runtime": "singularity",
        "runtimeVersion": "1.4.0",
    }
    base.update(fields)
    return base


def outcome(*reports):
    return outcome_from_reports(list(reports), PROVISIONED, "site-a")


def test_all_tasks_exit_zero_is_completed_and_succeeded():
    result = outcome(report(1), report(0))
    assert (result.status, result.reason, result.succeeded) == ("completed", None, True)
    assert [t["exitCode"] for t in result.execution["tasks"]] == [0, 0]
    assert result.execution["runtimeVersion"] == {"singularity": "1.4.0"}
    assert result.execution["provisionedResources"] == PROVISIONED
    assert result.start_time == 100


def test_nonzero_exit_is_still_completed_but_not_succeeded():
    result = outcome(report(0, exitCode=3, succeeded=False))
    assert (result.status, result.reason, result.succeeded) == ("completed", None, False)
    assert result.execution["tasks"][0]["exitCode"] == 3


def test_image_pull_failure_fails_the_job():
    failed = {"index": 0, "imagePullStatus": "failed", "final": True, "succeeded": False}
    result = outcome(failed)
    assert (result.status, result.reason) == ("failed", "Container image pull failed")
    assert result.execution["tasks"] == [{"imagePullStatus": "failed"}]


def test_walltime_kills_the_job():
    result = outcome(report(0, exitCode=-15, error="WallTimeLimitExceeded", succeeded=False))
    assert (result.status, result.reason) == ("killed", "Walltime limit exceeded")


def test_skipped_tasks_have_no_execution_entry():
    result = outcome(report(0, exitCode=1, succeeded=False), {"index": 1, "skipped": True, "final": True})
    assert len(result.execution["tasks"]) == 1


def test_a_run_without_reports_could_not_execute_tasks():
    result = outcome()
    assert (result.status, result.reason, result.succeeded) == ("failed", "Unable to execute task(s)", False)


def staged(*reports, stagein=None, stageout=None):
    return outcome_from_reports(list(reports), PROVISIONED, "site-a", stagein=stagein, stageout=stageout)


def test_stage_in_failures_fail_the_job_without_tasks():
    for status, reason in (("failedDownload", "Artifact download failed"), ("failedUncompress", "Artifact uncompress failed")):
        result = staged(stagein={"stagein": [{"name": "a.tgz", "status": status, "time": 0.5}]})
        assert (result.status, result.reason, result.succeeded) == ("failed", reason, False)
        assert result.execution["tasks"] == [] and result.execution["stageInTime"] == 0.5


def test_stage_out_failures_override_a_completed_run_and_times_are_summed():
    files = [{"name": "a", "status": "success", "time": 0.25}, {"name": "b", "status": "failedNoSuchFile", "time": 0.5}]
    result = staged(report(0), stageout={"files": files, "directories": [{"name": "d", "status": "failedUpload", "time": 1}]})
    assert (result.status, result.reason, result.succeeded) == ("failed", "Unable to stageout output to object storage", False)
    assert result.execution["stageOutTime"] == 1.75
    ok = staged(
        report(0),
        stagein={"stagein": [{"name": "a", "status": "success", "time": 1}]},
        stageout={"files": [{"name": "a", "status": "success", "time": 0}], "directories": []},
    )
    assert (ok.status, ok.reason, ok.succeeded, "stageOutTime" in ok.execution) == ("completed", None, True, False)


def test_walltime_wins_over_a_stage_out_failure():
    result = staged(
        report(0, error="WallTimeLimitExceeded", succeeded=False),
        stageout={"files": [{"name": "a", "status": "failedNoSuchFile"}], "directories": []},
    )
    assert (result.status, result.reason) == ("killed", "Walltime limit exceeded")


def test_the_site_is_the_worker_that_ran_the_first_task():
    assert outcome(report(1, site="worker-2@h"), report(0, site="worker-1@h")).execution["site"] == "worker-1@h"
    assert outcome(report(0)).execution["site"] == "site-a"
    assert "site" not in outcome(report(0, site="worker-1@h")).execution["tasks"][0]


def test_a_container_over_its_memory_is_killed_with_the_jobs_peak():
    result = outcome(
        report(0, maxMemoryUsageKB=300),
        report(1, exitCode=137, succeeded=False, error="MemoryLimitExceeded", maxMemoryUsageKB=204800),
    )
    assert (result.status, result.reason, result.failure) == ("killed", "Job used too much memory", "memory")
    assert result.execution["maxMemoryUsageKB"] == 204800
    assert "maxMemoryUsageKB" not in result.execution["tasks"][0]


def test_each_failure_has_its_class_and_reason():
    assert (outcome(report(0)).failure, outcome(report(0)).failure_reason) == (None, None)
    task = outcome(report(0, exitCode=2, succeeded=False))
    assert (task.status, task.failure, task.failure_reason) == ("completed", "task", "Task 0 exited with code 2")
    assert outcome({"index": 0, "imagePullStatus": "failed", "succeeded": False}).failure == "image"
    assert outcome(report(0, error="WallTimeLimitExceeded", succeeded=False)).failure == "walltime"
    staged = outcome_from_reports([], PROVISIONED, "s", stagein={"stagein": [{"name": "a", "status": "failedDownload"}]})
    assert (staged.failure, staged.failure_reason) == ("staging", "Artifact download failed")
    assert outcome().failure == "infrastructure"


def test_a_task_that_failed_without_its_final_report_lost_its_worker():
    lost = outcome_from_reports([report(0)], PROVISIONED, "s", lost_tasks=True)
    assert (lost.status, lost.reason, lost.failure) == ("failed", "Unable to execute task(s)", "infrastructure")
    assert outcome_from_reports([report(0)], PROVISIONED, "s").failure is None
