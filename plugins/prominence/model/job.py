"""Request schema of a job description (docs/api.md), validated by pydantic.

Field order in each model follows the order in which the original server checked things, so
that with several problems the first one reported is the original's (see `errors.py`). Wire
names are camelCase aliases; snake_case names are not accepted on the wire.

Interpretations of the spec:
* `memory`/`memoryPerCpu` accept any positive number (CLI sends `4.0`; 0.5 GB is accepted);
  0 gives `memory must be at least 1` and negatives `memory must be an integer` as in the
  original. They are held as float GB.
* `maximumTimeInQueue` accepts -1 (no limit, like 0); below -1 gives `… must be -1, 0 or
  greater than 0`.
* A task `runtime` that is missing or null is filled in (udocker if the image contains `.tar`
  or `.tgz`, else singularity), so `a container runtime must be defined` never occurs.
* `args` in a task is rejected (`invalid item "args" in task`), like the original.
* `ignoreTaskTailures` (the CLI's typo) is accepted and stored as `ignoreTaskFailures`;
  sending both spellings rejects the second as an invalid item.
* Env values may be strings, numbers or booleans and are stored as strings (JSON spelling).
* Unknown keys are also rejected in storage, image pull credentials and notifications, and a
  job with only sidecar tasks or an MPI task without `cmd` (or with `cmd: ""`) is rejected.

Caps against absurd requests (no site offers more; they also keep numbers in range for the
scheduler and the database), as the MAX_* constants below: nodes ≤ 1000; cpus, each cpusRange/
cpusOptions value and procsPerNode ≤ 1024; totalCpusRange ≤ 1,024,000; memory and
memoryPerCpu ≤ 65536 GB; disk ≤ 1,000,000 GB; walltime ≤ 525,600 minutes (a year); priority
≤ 1,000,000 (Airflow priority weights are 32-bit sums). Messages: `number of cpus must be at
most 1024`, `walltime must be at most 525600 minutes`, etc.
"""

import base64
import binascii
import json
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from prominence.config import get_settings
from prominence.model.errors import SpecError, rule_message, spec_error, to_spec_error

MAX_NODES = 1000
MAX_CPUS = 1024  # per node
MAX_TOTAL_CPUS = MAX_NODES * MAX_CPUS
MAX_MEMORY_GB = 65536  # per node, and per cpu
MAX_DISK_GB = 1_000_000
MAX_WALLTIME_MINUTES = 525_600  # 365 days
MAX_PRIORITY = 1_000_000
MAX_TIME_IN_QUEUE_MINUTES = 44640  # 31 days (spec)

MPI_TYPES = ("openmpi", "mpich", "intelmpi")


def at_most(items: Any, limit: int) -> Any:
    """A list counted before its items are validated, so a huge one is refused cheaply."""
    if isinstance(items, list) and len(items) > limit:
        raise spec_error("too_many", count=len(items), limit=limit)
    return items


class WireModel(BaseModel):
    """Strict JSON types (no "4" for 4, no 4.0 for an int, no true for 1), unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", strict=True, alias_generator=to_camel)


def _int(lo: int, hi: int) -> Any:
    return Annotated[int, Field(ge=lo, le=hi)]


def _pair(item: Any) -> Any:
    """A [min, max] pair (also used for cpusOptions' two alternatives)."""
    return Annotated[list[item], Field(min_length=2, max_length=2)]


_Cpus = _int(1, MAX_CPUS)
_GB = Annotated[float, Field(gt=0, le=MAX_MEMORY_GB, allow_inf_nan=False)]


class Resources(WireModel):
    """Per-node resources (§3.2); `nodes` and `disk` are filled in when absent."""

    nodes: _int(1, MAX_NODES) | None = None
    total_cpus_range: _pair(_int(1, MAX_TOTAL_CPUS)) | None = None
    cpus: _Cpus | None = None
    cpus_range: _pair(_Cpus) | None = None
    cpus_options: _pair(_Cpus) | None = None
    memory: _GB | None = None
    memory_per_cpu: _GB | None = None
    disk: _int(1, MAX_DISK_GB) | None = None
    walltime: _int(1, MAX_WALLTIME_MINUTES) | None = None  # minutes

    @model_validator(mode="after")
    def _rules(self) -> "Resources":
        cores = {"cpus": self.cpus, "cpusRange": self.cpus_range, "cpusOptions": self.cpus_options}
        given = [name for name, value in cores.items() if value is not None]
        if not given:
            raise spec_error("no_cores")
        if len(given) > 1:
            raise spec_error("two_cores", first=given[0], second=given[1])
        if self.memory is None and self.memory_per_cpu is None:
            raise spec_error("no_memory")
        if self.memory is not None and self.memory_per_cpu is not None:
            raise spec_error("two_memory")
        if self.cpus_range and self.cpus_range[0] > self.cpus_range[1]:
            raise spec_error("cpus_range_order")
        if self.total_cpus_range and self.total_cpus_range[0] > self.total_cpus_range[1]:
            raise spec_error("total_cpus_range_order")
        if self.nodes is None and self.total_cpus_range is None:
            self.nodes = 1
        if self.disk is None:
            self.disk = get_settings().default_disk_gb
        return self

    @property
    def cpus_per_node(self) -> int:
        """Cores per node: `cpus`, or the larger (preferred) value of a range or options."""
        return self.cpus or max(self.cpus_range or self.cpus_options or [1])

    @property
    def memory_per_node(self) -> float:
        """GB per node: `memory`, or `memoryPerCpu` × cores per node."""
        return self.memory if self.memory is not None else (self.memory_per_cpu or 0) * self.cpus_per_node


def _env_value(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return json.dumps(value)
    raise spec_error("value")


class ImagePullCredential(WireModel):
    username: str
    token: str


class Task(WireModel):
    """One container run (§3.3). There is no `args`: put arguments in `cmd`."""

    image: Annotated[str, Field(min_length=1)]
    image_pull_credential: ImagePullCredential | None = None
    runtime: Literal["singularity", "udocker", "kubernetes"] | None = None
    env: dict[str, Annotated[str, PlainValidator(_env_value)]] = Field(default_factory=dict)
    app: str | None = None
    procs_per_node: Annotated[int, Field(ge=1, le=MAX_CPUS)] | None = None
    cmd: str | None = None
    type: Literal["basic", "sidecar", "openmpi", "mpich", "intelmpi"] = "basic"
    workdir: str | None = None
    image_sha256: str | None = None
    stdout: str | None = None

    @model_validator(mode="after")
    def _rules(self) -> "Task":
        if self.runtime is None:
            self.runtime = "udocker" if ".tar" in self.image or ".tgz" in self.image else "singularity"
        if self.app is not None and self.runtime == "udocker":
            raise spec_error("app_udocker")
        if self.type in MPI_TYPES:
            if self.cmd and self.cmd.startswith("mpirun "):
                raise spec_error("mpirun")
            if not self.cmd:
                raise spec_error("mpi_cmd")
        return self


class PlacementRule(WireModel):
    sites: list[str] | None = None
    regions: list[str] | None = None


class Placement(WireModel):
    """Requirements restrict where a job may run; preferences order the candidates."""

    requirements: PlacementRule | None = None
    preferences: PlacementRule | None = None


class Policies(WireModel):
    """§3.4. Retries and time limits of 0 mean "none"; `maximumTimeInQueue` -1 also means none."""

    run_serial_tasks_on_all_nodes: bool = False
    leave_in_queue: bool = False
    placement: Placement | None = None
    ignore_task_failures: bool = Field(
        False,
        alias="ignoreTaskFailures",
        validation_alias=AliasChoices("ignoreTaskFailures", "ignoreTaskTailures"),
    )
    report_job_success_on_task_failure: bool = False
    priority: _int(0, MAX_PRIORITY) = 0
    auto_scaling_type: Literal["none", "dedicated", "shared"] | None = None
    maximum_retries: _int(1, 6) = 0
    maximum_task_retries: _int(1, 6) = 0
    maximum_time_in_queue: _int(-1, MAX_TIME_IN_QUEUE_MINUTES) = 0
    maximum_idle_time_per_resource: _int(1, MAX_TIME_IN_QUEUE_MINUTES) | None = None
    preemptible: Any = None  # accepted and ignored


def _base64(content: str) -> str:
    try:
        base64.b64decode(content, validate=True)
    except binascii.Error:
        raise ValueError("not base64") from None
    return content


def _filename(name: str) -> str:
    if name.rsplit("/", 1)[-1] in ("", ".", ".."):  # only the basename is used
        raise ValueError("no file name")
    return name


class InputFile(WireModel):
    """A small file written into the job's home before the tasks run."""

    filename: Annotated[str, AfterValidator(_filename)]
    content: Annotated[str, AfterValidator(_base64)]
    executable: bool | None = None


# Characters a runtime could read as the end of one bind and the start of another (apptainer splits
# `--bind` on commas and colons), and control characters.
_BIND_SEPARATORS = frozenset(",:\\") | {chr(c) for c in range(32)} | {chr(127)}


def _mountpoint(value: str) -> str:
    if ":" not in value:
        raise ValueError("no colon")
    source, target = value.split(":", 1)
    if source in ("", ".", "..") or "/" in source or any(c in _BIND_SEPARATORS for c in source):
        raise spec_error("source")
    if not target.startswith("/"):
        raise spec_error("target")
    if any(c in _BIND_SEPARATORS for c in target) or ".." in target.split("/"):
        raise spec_error("mountpoint_target")
    return value


class Artifact(WireModel):
    """A file fetched before the job starts: an http(s) URL or the name of an uploaded object."""

    url: Annotated[str, Field(min_length=1)]
    mountpoint: Annotated[str, AfterValidator(_mountpoint)] | None = None  # "<dir>:/abs/path"
    executable: bool | None = None


def _output_path(path: str) -> str:
    """Outputs are found inside the job's home: relative, never through `..` (spec §13.7)."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if path.startswith("/") or not parts or ".." in parts or "\x00" in path:
        raise spec_error("path", path=path)
    return path


class OneData(WireModel):
    provider: str
    token: str
    options: str | None = None


class Storage(WireModel):
    """A OneData space mounted into the job (§3.6); the only storage type left."""

    type: Literal["onedata"]
    mountpoint: Annotated[str, StringConstraints(pattern=r"^/")]
    default: bool | None = None
    onedata: OneData
    directory: str | None = None


class Notification(WireModel):
    event: Literal["jobFinished"]
    type: Literal["email"]


_Name = Annotated[str, StringConstraints(max_length=512, pattern=r"^[a-zA-Z0-9_\s/.-]*$")]
_LabelKey = Annotated[str, StringConstraints(max_length=512, pattern=r"^[a-zA-Z0-9]+$")]
_LabelValue = Annotated[str, StringConstraints(max_length=512, pattern=r"^[\w./-]+$")]
Labels = dict[_LabelKey, _LabelValue]


class JobDescription(WireModel):
    """A validated job description (§3.1); `to_stored()` gives back its wire form."""

    name: _Name = ""
    labels: Labels = Field(default_factory=dict)
    resources: Resources
    tasks: list[Task]
    artifacts: list[Artifact] = Field(default_factory=list)
    output_files: list[Annotated[str, AfterValidator(_output_path)]] = Field(default_factory=list)
    output_dirs: list[Annotated[str, AfterValidator(_output_path)]] = Field(default_factory=list)
    inputs: list[InputFile] = Field(default_factory=list)
    storage: Storage | None = None
    policies: Policies = Field(default_factory=Policies)
    notifications: list[Notification] = Field(default_factory=list)

    @field_validator("tasks", mode="before")
    @classmethod
    def _task_count(cls, tasks: Any) -> Any:
        return at_most(tasks, get_settings().max_tasks_per_job)

    @field_validator("tasks")
    @classmethod
    def _tasks(cls, tasks: list[Task], info: ValidationInfo) -> list[Task]:
        resources = info.data.get("resources")
        cpus = resources.cpus if resources else None
        for task in tasks:
            if cpus is not None and task.procs_per_node is not None and task.procs_per_node > cpus:
                raise spec_error("procs_per_node")
        if all(task.type == "sidecar" for task in tasks):
            raise spec_error("only_sidecars")
        return tasks

    @model_validator(mode="after")
    def _workflow_name(self, info: ValidationInfo) -> "JobDescription":
        if (info.context or {}).get("in_workflow"):
            if "name" not in self.model_fields_set:
                raise spec_error("unnamed")
            if not self.name:
                raise spec_error("empty_name")
        return self

    @property
    def total_cpus(self) -> int:
        """Largest core count the job may get: the top of totalCpusRange, else per node × nodes."""
        if self.resources.total_cpus_range:
            return self.resources.total_cpus_range[1]
        return self.resources.cpus_per_node * (self.resources.nodes or 1)

    @property
    def walltime_seconds(self) -> int:
        return (self.resources.walltime or get_settings().default_walltime_minutes) * 60

    def to_stored(self, *, redact: bool = False) -> dict[str, Any]:
        """The description as submitted (§4.2), in wire names, with the server's defaults
        (nodes, disk, runtime) filled in and the typo spelling normalised. `redact=True`
        hides the OneData token, for responses."""
        stored = self.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)
        if redact and "storage" in stored:
            stored["storage"]["onedata"]["token"] = "***"
        return stored


def parse_job(data: object, *, in_workflow: bool = False) -> JobDescription:
    """Validate decoded JSON as a job description; `SpecError` carries the first problem.

    `in_workflow`: the job is an element of a workflow's `jobs`, so it needs a non-empty name.
    """
    try:
        return JobDescription.model_validate(data, context={"in_workflow": in_workflow})
    except ValidationError as exc:
        raise to_spec_error(exc) from exc


def unsupported_task_type(job: JobDescription) -> str | None:
    """The first MPI task type of a job on more than one node, which this server cannot run yet.

    MPI tasks run `mpirun` on one node (runtimes/mpi.py); spreading ranks over several workers
    needs a launcher between them, so such jobs get a clear 400 instead of running on one node.
    """
    if (job.resources.nodes or 1) <= 1:
        return None
    return next((task.type for task in job.tasks if task.type in MPI_TYPES), None)


def check_supported(job: JobDescription) -> None:
    """SpecError for a job with a task type this server cannot run yet."""
    kind = unsupported_task_type(job)
    if kind is not None:
        raise SpecError(rule_message("job", (), "unsupported_task", type=kind))


def check_mountable(job: JobDescription) -> None:
    """SpecError for a job asking for `storage`: nothing can mount it here, and a job that
    expects its data at the mount point would run without it."""
    if job.storage is not None:
        raise SpecError(rule_message("job", (), "unmountable"))


__all__ = [
    "Artifact",
    "ImagePullCredential",
    "InputFile",
    "JobDescription",
    "Labels",
    "Notification",
    "OneData",
    "Placement",
    "PlacementRule",
    "Policies",
    "Resources",
    "SpecError",
    "Storage",
    "Task",
    "WireModel",
    "at_most",
    "check_mountable",
    "check_supported",
    "parse_job",
    "unsupported_task_type",
]
