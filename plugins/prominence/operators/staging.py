"""Stage-in and stage-out around a job's container tasks (spec §13.3, §13.7).

Both carry out the staging plan the api-server wrote into the sandbox at submission (sources
and object keys already resolved for the job's owner) and run only for jobs that have
something to stage: otherwise the cluster policy skips them at run creation, without a task
process. Each pushes its report as XCom `report` (the scheduler derives the job's status from
it) and keeps a copy in the sandbox (describe reads the outputs' state from there; stage-out
reads stage-in's). Nothing here follows a link out of the job's home.

A failure is always reported, never swallowed: whatever goes wrong staging one artifact or output
(even an error nobody foresaw) becomes its entry's failure status, so the job ends `failed` with
the spec's reason; should the task die before it reports at all, scheduler/outcome.py still
gives the job that reason from the task's state. A failure decided here raises
AirflowFailException, which Airflow never retries; its retries are for a try that died
(contract/tasks.py), and a retried stage-in or stage-out simply transfers everything again.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from airflow.sdk import Asset, AssetAlias, BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from prominence.contract.assets import OUTPUTS_ALIAS, output_asset_uri
from prominence.contract.keys import OUTPUT_KINDS, output_key
from prominence.contract.sandbox import Sandbox
from prominence.contract.tasks import REPORT_KEY, job_conf
from prominence.storage.fetch import FetchError, download_url
from prominence.storage.unpack import UnpackError, is_archive, make_tarball, unpack

GB = 1000**3


def _object_store() -> Any:
    """The S3 hook, loaded where used: boto3 costs ~90 ms of imports, and the job DAG's file,
    which imports these operators, is parsed by every task process, most of which never stage."""
    # boto3 loads only where used (see above).
    from prominence.storage.s3 import get_store

    return get_store()


def disk_bytes(job: dict[str, Any]) -> int:
    """The job's disk (spec §3.2, GB): the most one artifact may download or unpack to."""
    return int(job.get("resources", {}).get("disk") or 10) * GB


def _tasks_succeeded(job: dict[str, Any], sandbox: Sandbox) -> bool:
    """Whether the job completed: every task reported success, or failures do not count for it."""
    if (job.get("policies") or {}).get("reportJobSuccessOnTaskFailure"):
        return True
    reports = [sandbox.read_report(index) for index in range(len(job["tasks"]))]
    return all(report is not None and report.get("succeeded") for report in reports)


def _inside(home: Path, path: Path) -> Path | None:
    """`path` with its links resolved, if that is still inside `home`."""
    resolved = path.resolve()
    return resolved if resolved.is_relative_to(home.resolve()) else None


class StageInOperator(BaseOperator):
    """Fetch the job's artifacts into its home, in order, stopping at the first failure."""

    ui_color = "#e8f5e9"

    def execute(self, context: Any) -> None:
        sandbox = Sandbox(Path(job_conf(context["dag_run"].conf)["sandbox"]))
        job = sandbox.read_job()
        plan = sandbox.read_json(sandbox.staging_file) or {}
        entries: list[dict[str, Any]] = []
        for artifact in plan.get("artifacts", []):
            try:
                entries.append(self._stage(sandbox, artifact, disk_bytes(job)))
            except Exception:
                self.log.exception("Staging artifact %s failed", artifact.get("name"))
                entries.append({"name": artifact.get("name", ""), "status": "failedDownload", "time": 0})
            if entries[-1]["status"] != "success":
                break
        report = {"stagein": entries, "succeeded": all(e["status"] == "success" for e in entries)}
        sandbox.write_json(sandbox.stage_report_file("stagein"), report)
        context["ti"].xcom_push(key=REPORT_KEY, value=report)
        if not report["succeeded"]:
            raise AirflowFailException(f"Stage-in failed: {entries[-1]}")

    def _stage(self, sandbox: Sandbox, artifact: dict[str, Any], limit: int) -> dict[str, Any]:
        # boto3 loads only where used (see _object_store).
        from prominence.storage.s3 import StorageError, get_store

        started = time.monotonic()
        name = artifact["name"]
        dest = sandbox.home / name
        entry: dict[str, Any] = {"name": name, "status": "success"}
        try:
            if dest.is_symlink():
                dest.unlink()  # a link left by an earlier archive is replaced, never written through
            if "url" in artifact:
                download_url(artifact["url"], dest, limit)
            else:
                found = get_store().head(artifact["key"])
                if found is None or found["size"] > limit:
                    raise FetchError(f"{artifact['key']}: missing or larger than the job's disk")
                get_store().download(artifact["key"], dest)
            if artifact.get("executable"):
                dest.chmod(0o775)
        except (FetchError, StorageError, OSError) as exc:
            self.log.error("Download of artifact %s failed: %s", name, exc)
            dest.unlink(missing_ok=True)
            entry["status"] = "failedDownload"
        else:
            try:
                if is_archive(name):
                    unpack(dest, sandbox.home, limit)
                if artifact.get("mountpoint"):
                    source = sandbox.home / artifact["mountpoint"].split(":", 1)[0]
                    if _inside(sandbox.home, source) is None:
                        raise UnpackError(f"mountpoint source {source.name} leaves the job's home")
                    source.mkdir(exist_ok=True)
            except (UnpackError, OSError) as exc:
                self.log.error("Unpacking artifact %s failed: %s", name, exc)
                entry["status"] = "failedUncompress"
        entry["time"] = round(time.monotonic() - started, 3)
        self.log.info("Artifact %s: %s in %.2f s", name, entry["status"], entry["time"])
        return entry


class StageOutOperator(BaseOperator):
    """Upload the job's outputs after its tasks, also when a task failed, not when stage-in did;
    when the job completed, each uploaded output becomes an asset event (contract/assets.py)."""

    ui_color = "#fff3e0"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(outlets=[AssetAlias(OUTPUTS_ALIAS)], **kwargs)

    def execute(self, context: Any) -> None:
        conf = job_conf(context["dag_run"].conf)
        job_uuid = conf["uuid"]
        sandbox = Sandbox(Path(conf["sandbox"]))
        stagein = sandbox.read_json(sandbox.stage_report_file("stagein"))
        if stagein is not None and not stagein.get("succeeded"):
            raise AirflowSkipException("stage-in failed: nothing to stage out")
        plan = sandbox.read_json(sandbox.staging_file) or {}
        work = sandbox.root / "stageout"
        work.mkdir(exist_ok=True)
        report: dict[str, Any] = {"files": [], "directories": []}
        for wire, directory in OUTPUT_KINDS.items():
            for output in plan.get(wire, []):
                try:
                    entry = self._stage(sandbox, job_uuid, output["name"], directory, work)
                except Exception:
                    self.log.exception("Staging out %s failed", output.get("name"))
                    entry = {"name": output.get("name", ""), "status": "failedUpload", "time": 0}
                report["directories" if directory else "files"].append(entry)
        entries = report["files"] + report["directories"]
        report["succeeded"] = all(e["status"] == "success" for e in entries)
        sandbox.write_json(sandbox.stage_report_file("stageout"), report)
        context["ti"].xcom_push(key=REPORT_KEY, value=report)
        if not report["succeeded"]:
            raise AirflowFailException(f"Stage-out failed: {[e for e in entries if e['status'] != 'success']}")
        job = sandbox.read_job()
        if _tasks_succeeded(job, sandbox):
            self._emit_assets(context, conf, job.get("name") or context["dag_run"].run_id, report)

    @staticmethod
    def _emit_assets(context: Any, conf: dict[str, Any], name: str, report: dict[str, Any]) -> None:
        owner = context["dag_run"].triggering_user_name or ""
        events = context["outlet_events"][AssetAlias(OUTPUTS_ALIAS)]
        for kind in ("files", "directories"):
            for entry in report[kind]:
                extra = {
                    "job_id": conf["job_id"],
                    "owner": owner,
                    "output": entry["name"],
                    "key": output_key(conf["uuid"], entry["name"], kind == "directories"),
                    "bucket": _object_store().bucket,
                    "size": entry["size"],
                }
                events.add(Asset(output_asset_uri(owner, name, entry["name"])), extra=extra)

    def _stage(self, sandbox: Sandbox, job_uuid: str, name: str, directory: bool, work: Path) -> dict[str, Any]:
        # boto3 loads only where used (see _object_store).
        from prominence.storage.s3 import StorageError, get_store

        started = time.monotonic()
        entry: dict[str, Any] = {"name": name}
        source = self._find(sandbox.home, name, directory)
        if source is None:
            entry["status"] = "failedNoSuchFile"
        else:
            upload = source
            if directory:
                upload = work / f"{source.name}.tgz"
                try:
                    make_tarball(sandbox.home, str(source.relative_to(sandbox.home.resolve())), upload)
                except OSError as exc:
                    self.log.error("Tarball of %s failed: %s", name, exc)
                    entry["status"] = "failedTarCreation"
            if "status" not in entry:
                try:
                    get_store().upload(upload, output_key(job_uuid, name, directory))
                    entry.update(status="success", size=upload.stat().st_size)
                except StorageError as exc:
                    self.log.error("Upload of %s failed: %s", name, exc)
                    entry["status"] = "failedUpload"
            if directory:
                upload.unlink(missing_ok=True)
        entry["time"] = round(time.monotonic() - started, 3)
        self.log.info("Output %s: %s in %.2f s", name, entry["status"], entry["time"])
        return entry

    @staticmethod
    def _find(home: Path, name: str, directory: bool) -> Path | None:
        """The first match of `name` (a glob for files) inside the home, of the right kind."""
        candidates = [home / name] if directory else sorted(home.glob(name))
        for candidate in candidates:
            resolved = _inside(home, candidate)
            if resolved is not None and (resolved.is_dir() if directory else resolved.is_file()):
                return resolved
        return None
