"""The container task operator: runs one task of a PROMINENCE job in its container runtime.

One instance runs per job task (mapped over the job's plan), strictly in order: an instance
starts its container only after its predecessor's final report exists, and skips itself when
an earlier task failed (unless `ignoreTaskFailures`). Reports go to the sandbox (for the next
task) and to XCom under `report` (for the scheduler-side write-back of the job's status).
"""

from __future__ import annotations

import shlex
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import BaseOperator, timezone
from airflow.sdk.exceptions import AirflowFailException, AirflowRescheduleException, AirflowSkipException

from prominence.config import get_settings
from prominence.contract.sandbox import Sandbox
from prominence.contract.tasks import REPORT_KEY, WALLTIME_EXCEEDED, job_conf
from prominence.operators.binds import artifact_binds
from prominence.operators.handover import release_identity, take_identity
from prominence.runtimes import ImagePullError, PreparedRun, RunSpec, get_runtime
from prominence.runtimes.execution import Execution, pull_once
from prominence.runtimes.process import ProcessManager, cpu_info


class ContainerTaskOperator(BaseOperator):
    """Run task `index` of the job whose sandbox is named in the run's conf."""

    ui_color = "#cfe8fc"

    def __init__(self, *, index: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.index = index
        self._manager: ProcessManager | None = None
        self._sandbox: Sandbox | None = None
        self._interrupted = False

    def execute(self, context: Any) -> None:
        conf = job_conf(context["dag_run"].conf)
        sandbox = self._sandbox = Sandbox(Path(conf["sandbox"]))
        job = sandbox.read_job()
        task = job["tasks"][self.index]
        ti = context["ti"]
        self._wait_for_predecessor(sandbox, job)

        report: dict[str, Any] = {
            "index": self.index,
            "retries": _retries(sandbox.read_report(self.index)),
            "startTime": int(time.time()),
            "cpu": cpu_info(),
            # The worker that ran it: with Celery, one of several (execution.site).
            "site": get_settings().site,
        }
        runtime = get_runtime(task.get("runtime", "singularity"))
        identity = take_identity(sandbox) if runtime.confined else None
        try:
            image = pull_once(runtime, task["image"], sandbox.root, identity)
        except ImagePullError as exc:
            self.log.error("Image pull of %s failed: %s", task["image"], exc)
            report.update(imagePullStatus="failed", final=True, succeeded=False, endTime=int(time.time()))
            self._publish(sandbox, ti, report)
            release_identity(sandbox)
            raise AirflowFailException(f"Container image pull failed: {task['image']}") from exc
        report.update(
            imagePullStatus=image.status, imageSha256=image.sha256, runtime=runtime.name, runtimeVersion=runtime.version()
        )
        if image.status != "cached":
            report["imagePullTime"] = round(image.seconds, 3)

        spec = self._run_spec(image, sandbox, job, conf)
        if identity is not None:
            spec = replace(spec, identity=identity, scratch=sandbox.scratch, forward_ports=_api_ports())
        self._manager = runtime.manager(spec, self.log)
        result = self._manager.run()
        if result is None or self._interrupted:
            # Not the task's doing: run it again when the scheduler can (a deleted job's run has
            # already failed, so this changes nothing for it); a run let go of keeps its image.
            if result is not None:
                runtime.cleanup(image)
            raise AirflowRescheduleException(reschedule_date=_utcnow() + timedelta(seconds=1))
        report.update(
            exitCode=result.exit_code,
            endTime=int(time.time()),
            wallTimeUsage=result.wall_seconds,
            cpuTimeUsage=result.cpu_seconds,
            maxResidentSetSizeKB=result.max_rss_kb,
        )
        if result.timed_out:
            report["error"] = WALLTIME_EXCEEDED
        succeeded = result.exit_code == 0 and not result.timed_out
        retrying = not succeeded and not result.timed_out and ti.try_number <= ti.max_tries
        report.update(final=not retrying, succeeded=succeeded)
        self._publish(sandbox, ti, report)
        if retrying:
            Execution(spec.usage).clear()  # the retry is a new run, not a re-attach
        runtime.cleanup(image)
        if identity is not None and _job_over(job, self.index, report):
            release_identity(sandbox)
        if result.timed_out:
            raise AirflowFailException("Walltime limit exceeded")
        if not succeeded:
            raise RuntimeError(f"task {self.index} exited with code {result.exit_code}")

    def on_kill(self) -> None:
        """Stopped from outside: stop the container of a deleted job; else (the stack shutting
        down, the task reset as orphaned) let it run for the next try to re-attach to."""
        self._interrupted = True
        if self._manager is not None:
            if self._sandbox is not None and self._sandbox.stop_file.exists():
                self._manager.kill()
            else:
                self._manager.detach()

    def _wait_for_predecessor(self, sandbox: Sandbox, job: dict[str, Any]) -> None:
        if self.index == 0:
            return
        previous = sandbox.read_report(self.index - 1)
        if previous is None or not previous.get("final"):
            raise AirflowRescheduleException(reschedule_date=_utcnow() + timedelta(seconds=1))
        ignore = job.get("policies", {}).get("ignoreTaskFailures", False)
        aborted = previous.get("skipped") or previous.get("error") or previous.get("imagePullStatus") == "failed"
        if aborted or (not previous.get("succeeded") and not ignore):
            # Recorded in the sandbox only, so that later tasks skip too; it is no execution entry.
            sandbox.write_report(self.index, {"index": self.index, "skipped": True, "final": True})
            raise AirflowSkipException("an earlier task did not complete successfully")

    def _walltime_budget(self, sandbox: Sandbox, job: dict[str, Any]) -> float:
        """Spec §13.6: the walltime covers all tasks of the job; pull time is not charged."""
        minutes = job.get("resources", {}).get("walltime") or get_settings().default_walltime_minutes
        used = sum((sandbox.read_report(i) or {}).get("wallTimeUsage", 0.0) for i in range(self.index))
        return max(minutes * 60 - used, 0.0)

    def _run_spec(self, image: PreparedRun, sandbox: Sandbox, job: dict[str, Any], conf: dict[str, Any]) -> RunSpec:
        task = job["tasks"][self.index]
        workdir = _workdir(task)
        inside = (sandbox.home / workdir.removeprefix("/home/user/")).resolve()
        if workdir.startswith("/home/user/") and inside.is_relative_to(sandbox.home.resolve()):
            # A working directory in the job's home is created for the task, as the wrapper did.
            inside.mkdir(parents=True, exist_ok=True)
        return RunSpec(
            image=image,
            command=tuple(shlex.split(task["cmd"])) if task.get("cmd") else None,
            env=_task_env(job, task, conf, sandbox, self.index, image.runtime),
            workdir=workdir,
            home=sandbox.home,
            tmp=sandbox.tmp,
            stdout=sandbox.log("stdout"),
            stderr=sandbox.log("stderr"),
            usage=sandbox.root / "json" / f"usage-{self.index}",
            walltime_seconds=self._walltime_budget(sandbox, job),
            binds=tuple(artifact_binds(sandbox)),
            cpus=int(conf.get("cpus", 1)),
            memory_mb=_memory_mb(job),
            disk_gb=job.get("resources", {}).get("disk") or get_settings().default_disk_gb,
        )

    def _publish(self, sandbox: Sandbox, ti: Any, report: dict[str, Any]) -> None:
        sandbox.write_report(self.index, report)
        ti.xcom_push(key=REPORT_KEY, value=report)


def _task_env(job, task, conf, sandbox: Sandbox, index: int, runtime: str) -> dict[str, str]:
    """Spec §13.10: the task's own env, then the system's variables, which win on clashes."""
    resources = job.get("resources", {})
    env = {str(k): str(v) for k, v in (task.get("env") or {}).items()}
    env.update(
        PROMINENCE_JOB_ID=str(conf["job_id"]),
        PROMINENCE_TASK_NUM=str(index),
        PROMINENCE_NODE_NUM="0",
        PROMINENCE_NODES=str(resources.get("nodes", 1)),
        PROMINENCE_CPUS=str(conf.get("cpus", 1)),
        PROMINENCE_MEMORY=str(resources.get("memory", "")),
        PROMINENCE_CONTAINER_RUNTIME=runtime,
        PROMINENCE_URL=get_settings().public_url,
        PROMINENCE_TOKEN=sandbox.token_file.read_text() if sandbox.token_file.exists() else "",
    )
    if conf.get("workflow_id"):
        env["PROMINENCE_WORKFLOW_ID"] = str(conf["workflow_id"])
    return env


def _job_over(job: dict[str, Any], index: int, report: dict[str, Any]) -> bool:
    """No later task of the job will run after this final report (spec §13.6 ordering)."""
    if not report["final"]:
        return False
    if index == len(job["tasks"]) - 1 or report.get("error"):
        return True
    return not report["succeeded"] and not job.get("policies", {}).get("ignoreTaskFailures", False)


def _retries(previous: dict[str, Any] | None) -> int:
    """The retries the job's policy made (spec: `retries`): one more after a report that was not
    final. Airflow's try number also counts the tries it re-ran after losing a task (an orphan
    reset), which re-attach to the same run."""
    if previous is None:
        return 0
    return previous.get("retries", 0) + (0 if previous.get("final") else 1)


def _api_ports() -> tuple[int, ...]:
    """The host loopback port of PROMINENCE_URL, which jobs reach (other loopback ports they do not)."""
    url = urlsplit(get_settings().public_url)
    if url.hostname in ("127.0.0.1", "localhost", "::1"):
        return (url.port or (443 if url.scheme == "https" else 80),)
    return ()


def _memory_mb(job: dict[str, Any]) -> int | None:
    """Spec §3.2: the scheduler is given 1000 MB per GB."""
    resources = job.get("resources", {})
    gb = resources.get("memory")
    if gb is None and resources.get("memoryPerCpu") is not None:
        gb = resources["memoryPerCpu"] * (resources.get("cpus") or 1)
    return int(gb * 1000) if gb else None


def _workdir(task: dict[str, Any]) -> str:
    workdir = task.get("workdir") or "/home/user"
    return workdir if workdir.startswith("/") else f"/home/user/{workdir}"


def _utcnow():
    return timezone.utcnow()
