"""The container task operator: runs one task of a PROMINENCE job in its container runtime.

One instance runs per job task (mapped over the job's plan), strictly in order: an instance
starts its container only after its predecessor's final report exists, and skips itself when
an earlier task failed (unless `ignoreTaskFailures`). Reports go to the sandbox (for the next
task) and to XCom under `report` (for the scheduler-side write-back of the job's status).
A sidecar task's instance only marks itself done: every other task's instance runs the job's
sidecars beside its own container, in its network namespace (what a sidecar serves on localhost
the task reaches), started before the task's command, and stops them (SIGTERM, SIGKILL 5 s
later) when it ends.
A failure it decides ends in AirflowFailException, except one the job's `maximumTaskRetries` run
again: Airflow's other retries are for a try that died before deciding (contract/tasks.py).
"""

from __future__ import annotations

import shlex
import time
from dataclasses import replace
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import BaseOperator, timezone
from airflow.sdk.exceptions import AirflowFailException, AirflowRescheduleException, AirflowSkipException

from prominence.config import get_settings
from prominence.contract.sandbox import Sandbox
from prominence.contract.tasks import MEMORY_EXCEEDED, REPORT_KEY, WALLTIME_EXCEEDED, job_conf
from prominence.operators.binds import artifact_binds, home_relative
from prominence.operators.handover import release_identity, take_identity
from prominence.operators.images import image_source
from prominence.operators.substitution import substitute_ids
from prominence.runtimes import ImagePullError, PreparedRun, RunSpec, get_runtime
from prominence.runtimes.base import Runtime
from prominence.runtimes.confine import SharedNetwork
from prominence.runtimes.execution import Execution, pull_once
from prominence.runtimes.identity import JobIdentity
from prominence.runtimes.mpi import MPI_TYPES, mpi_command, mpi_env, mpi_processes
from prominence.runtimes.process import ProcessManager, cpu_info


class ContainerTaskOperator(BaseOperator):
    """Run task `index` of the job whose sandbox is named in the run's conf."""

    ui_color = "#cfe8fc"

    def __init__(self, *, index: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.index = index
        self._manager: ProcessManager | None = None
        self._sidecars: list[ProcessManager] = []
        self._sandbox: Sandbox | None = None
        self._interrupted = False

    def execute(self, context: Any) -> None:
        conf = job_conf(context["dag_run"].conf)
        sandbox = self._sandbox = Sandbox(Path(conf["sandbox"]))
        job = sandbox.read_job()
        task = job["tasks"][self.index]
        ti = context["ti"]
        self._wait_for_predecessor(sandbox, job)
        if task.get("type") == "sidecar":
            # It runs beside each of the job's other tasks, started by their instances (below).
            sandbox.write_report(self.index, {"index": self.index, "sidecar": True, "final": True, "succeeded": True})
            return

        report: dict[str, Any] = {
            "index": self.index,
            "retries": _retries(sandbox.read_report(self.index)),
            "startTime": int(time.time()),
            "cpu": cpu_info(),
            # The worker that ran it: with Celery, one of several (execution.site).
            "site": get_settings().site,
        }
        runtime = get_runtime(task.get("runtime", "singularity"))
        sidecars = [
            (i, get_runtime(t.get("runtime", "singularity"))) for i, t in enumerate(job["tasks"]) if t.get("type") == "sidecar"
        ]
        confined = runtime.confined or any(r.confined for _, r in sidecars)
        identity = take_identity(sandbox) if confined else None
        pulling = task["image"]
        try:
            image = pull_once(runtime, pulling, sandbox.root, identity, image_source(sandbox, job, task))
            sidecar_images = []
            for i, sidecar_runtime in sidecars:
                pulling = job["tasks"][i]["image"]
                source = image_source(sandbox, job, job["tasks"][i])
                sidecar_images.append((i, sidecar_runtime, pull_once(sidecar_runtime, pulling, sandbox.root, identity, source)))
        except ImagePullError as exc:
            self.log.error("Image pull of %s failed: %s", pulling, exc)
            report.update(imagePullStatus="failed", final=True, succeeded=False, endTime=int(time.time()))
            self._publish(sandbox, ti, report)
            release_identity(sandbox)
            raise AirflowFailException(f"Container image pull failed: {pulling}") from exc
        report.update(
            imagePullStatus=image.status, imageSha256=image.sha256, runtime=runtime.name, runtimeVersion=runtime.version()
        )
        if image.status != "cached":
            report["imagePullTime"] = round(image.seconds, 3)

        spec = self._run_spec(image, sandbox, job, conf, self.index)
        # Only the job's own task is recorded for `exec` to enter (contract/namespace.py).
        spec = _confine(spec, runtime, identity, sandbox, record=sandbox.namespace_file)
        self._manager = runtime.manager(spec, self.log)
        # Without sidecars nothing runs beside the task: no namespace lookup on its start-up path.
        beside = partial(self._start_sidecars, sidecar_images, sandbox, job, conf, identity) if sidecar_images else None
        try:
            result = self._manager.run(beside=beside)
        finally:
            self._stop_sidecars()
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
        if result.max_memory_kb is not None:
            report["maxMemoryUsageKB"] = result.max_memory_kb
        if result.timed_out:
            report["error"] = WALLTIME_EXCEEDED
        elif result.memory_exceeded:
            report["error"] = MEMORY_EXCEEDED
        succeeded = result.exit_code == 0 and "error" not in report
        # The job's task retries only: Airflow's others are for tries that died (contract/tasks.py).
        retries_left = report["retries"] < int(conf.get("task_retries", 0)) and ti.try_number <= ti.max_tries
        retrying = not succeeded and "error" not in report and retries_left
        report.update(final=not retrying, succeeded=succeeded)
        self._publish(sandbox, ti, report)
        if retrying:
            Execution(spec.usage).clear()  # the retry is a new run, not a re-attach
        runtime.cleanup(image)
        if identity is not None and _job_over(job, self.index, report):
            release_identity(sandbox)
        if result.timed_out:
            raise AirflowFailException("Walltime limit exceeded")
        if result.memory_exceeded:
            raise AirflowFailException("Job used too much memory")
        if retrying:
            raise RuntimeError(f"task {self.index} exited with code {result.exit_code}; retrying")
        if not succeeded:
            raise AirflowFailException(f"task {self.index} exited with code {result.exit_code}")

    def on_kill(self) -> None:
        """Stopped from outside: stop the container of a deleted job; else (the stack shutting
        down, the task reset as orphaned) let it run for the next try to re-attach to."""
        self._interrupted = True
        if self._manager is not None:
            if self._sandbox is not None and self._sandbox.stop_file.exists():
                self._manager.kill()
            else:
                self._manager.detach()
        for manager in self._sidecars:
            manager.kill()

    def _start_sidecars(
        self,
        sidecars: list[tuple[int, Runtime, PreparedRun]],
        sandbox: Sandbox,
        job: dict[str, Any],
        conf: dict[str, Any],
        identity: JobIdentity | None,
        network: SharedNetwork | None,
    ) -> None:
        """Spec §13.6: the job's sidecars beside its task, in the task's network namespace
        (`network`; None when the task has none: a confined sidecar then gets one of its own)."""
        for i, sidecar_runtime, sidecar_image in sidecars:
            sidecar = self._run_spec(sidecar_image, sandbox, job, conf, i)
            manager = sidecar_runtime.manager(_confine(sidecar, sidecar_runtime, identity, sandbox, network=network), self.log)
            manager.start_afresh()
            self._sidecars.append(manager)

    def _stop_sidecars(self) -> None:
        """Spec §13.6: the job's sidecars end with the task they ran beside."""
        for manager in self._sidecars:
            manager.kill()
        for manager in self._sidecars:
            result = manager.wait()
            self.log.info("Sidecar stopped (exit code %s)", None if result is None else result.exit_code)
        self._sidecars = []

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

    def _run_spec(self, image: PreparedRun, sandbox: Sandbox, job: dict[str, Any], conf: dict[str, Any], index: int) -> RunSpec:
        """How task `index` runs: this instance's own task, or a sidecar beside it."""
        task = job["tasks"][index]
        workdir = _workdir(substitute_ids(task.get("workdir") or "", conf))
        inside = (sandbox.home / workdir.removeprefix("/home/user/")).resolve()
        if workdir.startswith("/home/user/") and inside.is_relative_to(sandbox.home.resolve()):
            # A working directory in the job's home is created for the task, as the wrapper did.
            inside.mkdir(parents=True, exist_ok=True)
        binds = tuple(artifact_binds(sandbox))
        command = tuple(shlex.split(substitute_ids(task["cmd"], conf))) if task.get("cmd") else None
        env = _task_env(job, task, conf, sandbox, index, image.runtime)
        if task.get("type") in MPI_TYPES:
            cpus = int(conf.get("cpus", 1))
            processes = mpi_processes(task.get("procsPerNode"), cpus)
            command = mpi_command(task["type"], substitute_ids(task["cmd"], conf), processes)
            env.update(mpi_env(task["type"], task.get("env") or {}, cpus, processes))
        return RunSpec(
            image=image,
            command=command,
            env=env,
            workdir=workdir,
            home=sandbox.home,
            tmp=sandbox.tmp,
            stdout=sandbox.log("stdout"),
            stderr=sandbox.log("stderr"),
            usage=sandbox.root / "json" / f"usage-{index}",
            walltime_seconds=self._walltime_budget(sandbox, job),
            binds=binds,
            cpus=int(conf.get("cpus", 1)),
            memory_mb=_memory_mb(conf),
            disk_gb=job.get("resources", {}).get("disk") or get_settings().default_disk_gb,
            app=task.get("app"),
            stdout_copy=home_relative(task.get("stdout"), list(binds), str(sandbox.home.resolve())),
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
        PROMINENCE_MEMORY=_number(_given(conf).get("memory") or resources.get("memory", "")),
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
    last = max(i for i, task in enumerate(job["tasks"]) if task.get("type") != "sidecar")
    if index == last or report.get("error"):
        return True
    return not report["succeeded"] and not job.get("policies", {}).get("ignoreTaskFailures", False)


def _confine(
    spec: RunSpec,
    runtime: Runtime,
    identity: JobIdentity | None,
    sandbox: Sandbox,
    record: Path | None = None,
    network: SharedNetwork | None = None,
) -> RunSpec:
    """A run of a confined runtime gets the job's identity, its scratch and the API's port (or
    joins `network`, which has it); `record` is where its namespaces are recorded for `exec`."""
    if identity is None or not runtime.confined:
        return spec
    ports = () if network is not None else _api_ports()
    return replace(
        spec, identity=identity, scratch=sandbox.scratch, forward_ports=ports, namespace_record=record, network=network
    )


def _retries(previous: dict[str, Any] | None) -> int:
    """The retries the job's policy made (spec: `retries`): one more after a report that was not
    final. Airflow's try number also counts the tries it re-ran after losing a task (an orphan
    reset, a retry of a try that died), which re-attach to the same run and report nothing."""
    if previous is None:
        return 0
    return previous.get("retries", 0) + (0 if previous.get("final") else 1)


def _api_ports() -> tuple[int, ...]:
    """The host loopback port of PROMINENCE_URL, which jobs reach (other loopback ports they do not)."""
    url = urlsplit(get_settings().public_url)
    if url.hostname in ("127.0.0.1", "localhost", "::1"):
        return (url.port or (443 if url.scheme == "https" else 80),)
    return ()


def _given(conf: dict[str, Any]) -> dict[str, Any]:
    """What admission gave the job (engine/dispatch.py): cores, GB of memory, GB of disk."""
    return conf.get("provisioned") or {}


def _number(value: Any) -> str:
    """GB as the job sees it: `4`, not `4.0`."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _memory_mb(conf: dict[str, Any]) -> int | None:
    """The container's limit, the memory the job was given; spec §3.2: 1000 MB per GB."""
    gb = _given(conf).get("memory")
    return int(gb * 1000) if gb else None


def _workdir(given: str) -> str:
    workdir = given or "/home/user"
    return workdir if workdir.startswith("/") else f"/home/user/{workdir}"


def _utcnow():
    return timezone.utcnow()
