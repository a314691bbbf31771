"""The API's validation messages (docs/api.md), and how a pydantic validation error becomes one of them.

The original server validated by hand and stopped at the first problem, with a fixed message
per rule; clients and users see those texts. The models in `job.py`, `workflow.py` and
`factories.py` let pydantic validate, so here we (1) pick the error the original would have
reported first and (2) translate it by location and kind through `MESSAGES`, the one table of
every message the schemas give. Rules pydantic cannot express as constraints raise
`spec_error(rule, **values)`, whose message is the entry `rule` at the location they fail at,
or a plain ValueError when that location's general message already says what is wrong.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

_RULE = "spec_rule"


class SpecError(Exception):
    """An invalid request; `message` is the spec's exact text for the `{"error": ...}` body."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def spec_error(rule: str, **values: Any) -> PydanticCustomError:
    """A hand-written rule failed; its message is MESSAGES' entry `rule` at the error's location."""
    return PydanticCustomError(_RULE, rule, {"rule": rule, **values})


# Per-user quotas (docs/scheduling.md), answered with a 400 at submission or upload.
QUOTA_JOBS_QUEUED = "Quota exceeded: at most {quota} jobs may be queued per user"
QUOTA_CPUS_RUNNING = "Quota exceeded: the job needs at least {cpus} cpus, at most {quota} may run per user"
QUOTA_DATA_BYTES = "Quota exceeded: stored data takes {used} bytes, at most {quota} are allowed per user"

_BOOL = "{key} must be either true or false"
_CPUS_RANGE = "cpusRange must be a list containing the min and max allowed number of CPUs"
_TOTAL_CPUS_RANGE = "totalCpusRange must be a list containing the min and max allowed total number of CPUs"
_PROCS_PER_NODE = "number of processes per node must be less than number of CPU cores per node"
_LABELS = {
    ("labels",): {"type": "labels must be defined as a dict"},
    ("labels", "*", "[key]"): {
        "max": "label names must be less than 512 characters in length",
        "*": 'label name "{input}" is invalid',
    },
    ("labels", "*"): {"max": "label values must be less than 512 characters in length", "*": 'label value "{input}" is invalid'},
}
_PLACEMENT = {
    ("policies", "placement"): {
        "type": "placement policy must be defined as a dict",
        "extra": 'invalid item "{key}" in placement policy',
    },
    **{
        ("policies", "placement", rule): {
            "type": f"{rule} must be defined as a dict",
            "extra": f'invalid item "{{key}}" in {rule}',
        }
        for rule in ("requirements", "preferences")
    },
    **{
        ("policies", "placement", rule, "*"): {"*": f"{{key}} in {rule} must be a list"}
        for rule in ("requirements", "preferences")
    },
}
_NOTIFICATIONS = {
    ("notifications",): {"type": "notifications must be in the form of a list"},
    ("notifications", "*"): {"type": "each notification must be an object", "extra": 'invalid item "{key}" in notifications'},
    ("notifications", "*", "event"): {
        "missing": "a notification event must be defined",
        "*": 'invalid notification event "{input}"',
    },
    ("notifications", "*", "type"): {
        "missing": "a notification type must be defined",
        "*": 'invalid notification type "{input}"',
    },
}


def _count(what: str, most: int) -> dict[str, str]:
    return {
        "type": f"the number of {what} must be an integer",
        "min": f"the number of {what} must be greater than 0",
        "max": f"the number of {what} must be less than {most}",
    }


# Location (wire names; "*" = any list index or dict key) -> kind -> message template.
# Kinds: missing, type (wrong type or value), min, max, pattern, tag (unknown union tag), extra
# (unknown key inside this location), "*" (any kind, also used for errors deeper inside this
# location), and the names of hand-written rules (found at their exact location only).
# Templates may use {key} (last element of the location, or the unknown key), {input}, the
# bound of a failed range check ({le}) and the values a rule passes.
_JOB: dict[tuple[str, ...], dict[str, str]] = {
    (): {
        "type": "a job description must be a JSON object",
        "extra": 'invalid item "{key}" in job description',
        "unnamed": "all jobs must have names",
        "empty_name": "names of jobs in workflows cannot be empty",
        "unsupported_task": "tasks of type {type} on more than one node are not supported by this server yet",
        "unmountable": "storage (OneData mounts) is not supported by this server",
    },
    ("name",): {"max": "job name must be less than 512 characters in length", "*": "invalid job name"},
    **_LABELS,
    # resources
    ("resources",): {
        "missing": "a job must contain resources",
        "type": "resources must be defined as a dict",
        "extra": 'invalid item "{key}" in resources',
        "no_cores": "one of cpus, cpusRange, cpusOptions must be defined",
        "two_cores": "{first} and {second} cannot both be defined",
        "no_memory": "memory or memoryPerCpu (in GB) must be defined",
        "two_memory": "memory and memoryPerCpu cannot both be defined",
        "cpus_range_order": _CPUS_RANGE,
        "total_cpus_range_order": _TOTAL_CPUS_RANGE,
    },
    ("resources", "nodes"): {
        "type": "number of nodes must be an integer",
        "min": "number of nodes must be at least 1",
        "max": "number of nodes must be at most {le}",
    },
    ("resources", "totalCpusRange"): {
        "type": "totalCpusRange must be a list",
        "*": _TOTAL_CPUS_RANGE,
    },
    ("resources", "cpus"): {
        "type": "number of cpus must be an integer",
        "min": "number of cpus must be at least 1",
        "max": "number of cpus must be at most {le}",
    },
    ("resources", "cpusRange"): {"*": _CPUS_RANGE},
    ("resources", "cpusOptions"): {"*": "cpusOptions must be a list containing the two possible number of CPUs"},
    ("resources", "memory"): {
        "type": "memory must be an integer",
        "min": "memory must be at least 1",
        "max": "memory must be at most {le}",
    },
    ("resources", "memoryPerCpu"): {
        "type": "memoryPerCpu must be an integer",
        "min": "memoryPerCpu must be at least 1",
        "max": "memoryPerCpu must be at most {le}",
    },
    ("resources", "disk"): {
        "type": "required disk must be an integer",
        "min": "disk must be at least 1",
        "max": "disk must be at most {le}",
    },
    ("resources", "walltime"): {
        "type": "required walltime must be an integer",
        "min": "walltime must be at least 1 minute",
        "max": "walltime must be at most {le} minutes",
    },
    # tasks
    ("tasks",): {
        "missing": "a job must contain tasks",
        "type": "an array of tasks must be provided",
        "too_many": "Job has {count} tasks, more than the limit of {limit}",
        "procs_per_node": _PROCS_PER_NODE,
        "only_sidecars": "a job cannot contain only sidecar tasks",
    },
    ("tasks", "*"): {
        "type": "each task must be an object",
        "extra": 'invalid item "{key}" in task',
        "app_udocker": "app is only supported by Singularity",
        "mpirun": "it is not necessary to include mpirun in the cmd if an MPI flavour has been specified",
        "mpi_cmd": "A command to execute must be specified for MPI jobs",
    },
    ("tasks", "*", "image"): {"*": "each task must specify a container image"},
    ("tasks", "*", "imagePullCredential"): {
        "extra": 'invalid item "{key}" in image pull credential',
        "*": "a username and token must be specified in the image pull credential",
    },
    ("tasks", "*", "runtime"): {"*": "the container runtime must be either udocker or singularity"},
    ("tasks", "*", "env"): {"*": "environment variables must be defined as a dict"},
    ("tasks", "*", "env", "*"): {"value": "environment variable values must be strings, numbers or booleans"},
    ("tasks", "*", "app"): {"*": "app must be a string"},
    ("tasks", "*", "procsPerNode"): {
        "type": "number of processes per node must be an integer",
        "min": "number of processes per node must be at least 1",
        "max": _PROCS_PER_NODE,
    },
    ("tasks", "*", "cmd"): {"*": "cmd must be a string"},
    ("tasks", "*", "type"): {"*": "invalid task type"},
    **{("tasks", "*", field): {"*": f"{field} must be a string"} for field in ("workdir", "imageSha256", "stdout")},
    # inputs, artifacts, outputs
    ("artifacts",): {"type": "an array of artifacts must be provided"},
    ("artifacts", "*"): {"type": "each artifact must be an object", "extra": "invalid item {key} in artifact"},
    ("artifacts", "*", "url"): {"*": "an artifact must contain a URL"},
    ("artifacts", "*", "mountpoint"): {
        "source": "invalid source in mountpoint for artifact",
        "target": "the mountpoint for an artifact must be an absolute path",
        "mountpoint_target": "the mountpoint for an artifact must not contain commas, colons, control characters or '..'",
        "*": "invalid mountpoint for artifact",
    },
    ("artifacts", "*", "executable"): {"*": _BOOL},
    ("outputFiles",): {"type": "an array of outputFiles must be provided", "*": "outputFiles must be a list of strings"},
    ("outputDirs",): {"type": "an array of outputDirs must be provided", "*": "outputDirs must be a list of strings"},
    **{
        (key, "*"): {"path": "invalid output path {path!r}: it must be relative to the job's home"}
        for key in ("outputFiles", "outputDirs")
    },
    ("inputs",): {"type": "an array of inputs must be provided"},
    ("inputs", "*"): {"type": "each input must be an object", "extra": "invalid item {key} in input"},
    ("inputs", "*", "filename"): {"*": "each input must contain a filename"},
    ("inputs", "*", "content"): {"*": "each input must contain base64 encoded content"},
    ("inputs", "*", "executable"): {"*": _BOOL},
    # storage
    ("storage",): {"type": "storage must be defined as a dict", "extra": 'invalid item "{key}" in storage'},
    ("storage", "type"): {"missing": "storage type must be defined", "*": "storage type must be onedata"},
    ("storage", "mountpoint"): {"missing": "a mount point must be defined", "*": "the mountpoint must be an absolute path"},
    ("storage", "default"): {"*": _BOOL},
    ("storage", "directory"): {"*": "directory must be a string"},
    ("storage", "onedata"): {
        "extra": 'invalid item "{key}" in OneData storage details',
        "*": "OneData storage details must be defined",
    },
    ("storage", "onedata", "provider"): {"missing": "OneData provider must be defined", "*": "OneData provider must be a string"},
    ("storage", "onedata", "token"): {"missing": "OneData token must be defined", "*": "OneData token must be a string"},
    ("storage", "onedata", "options"): {"*": "OneData options must be a string"},
    # policies
    ("policies",): {"type": "policies must be defined as a dict", "extra": 'invalid item "{key}" in policies'},
    **{
        ("policies", flag): {"*": _BOOL}
        for flag in (
            "runSerialTasksOnAllNodes",
            "leaveInQueue",
            "ignoreTaskFailures",
            "ignoreTaskTailures",
            "reportJobSuccessOnTaskFailure",
        )
    },
    **_PLACEMENT,
    ("policies", "priority"): {"max": "the priority must be at most {le}", "*": "the priority must be an integer"},
    ("policies", "autoScalingType"): {"*": "autoScalingType, if defined, must be none, dedicated or shared"},
    ("policies", "maximumRetries"): _count("retries", 6),
    ("policies", "maximumTaskRetries"): {
        "type": "the number of task retries must be an integer",
        "min": "the number of retries must be greater than 0",
        "max": "the number of retries must be less than 6",
    },
    ("policies", "maximumTimeInQueue"): {
        "type": "the maximum time in queue must be an integer",
        "min": "the maximum time in queue must be -1, 0 or greater than 0",
        "max": "the maximum time in queue must be less than 44640",
    },
    ("policies", "maximumIdleTimePerResource"): {
        "type": "the maximum idle time per resource must be an integer",
        "min": "the maximum idle time per resource must be greater than 0",
        "max": "the maximum idle time per resource must be less than 44640",
    },
    **_NOTIFICATIONS,
}


_SWEEP = ("factories", "*", "parameterSweep", "parameters")
_ZIP = ("factories", "*", "zip", "parameters")
_WORKFLOW: dict[tuple[str, ...], dict[str, str]] = {
    (): {
        "type": "a workflow description must be a JSON object",
        "extra": 'invalid item "{key}" in workflow description',
        "unknown_child": 'child job "{child}" is not actually defined',
        "unknown_parent": 'parent job "{parent}" is not actually defined',
        "unknown_factory_job": "factory {factory} references a job {job} which is not defined",
        "two_factories": "job {job} is referenced by more than one factory",
        "cycle": "dependencies must not contain cycles",
        "too_many_members": "Workflow has {count} job instances, more than the limit of {limit}",
    },
    ("name",): {"max": "workflow name must be less than 512 characters in length", "*": "invalid workflow name"},
    **_LABELS,
    ("jobs",): {
        "unique": 'all jobs must have unique names: "{name}" is used more than once',
        "too_many": "Workflow has {count} jobs, more than the limit of {limit}",
        "*": "a workflow must contain jobs",
    },
    ("dependencies",): {"type": "dependencies must be a dict"},
    ("dependencies", "*"): {"*": "children of parent job must be in the form of a list"},
    ("factories",): {"type": "factories must be a list"},
    ("factories", "*"): {"tag": "invalid factory type", "*": "a factory type must be specified"},
    ("factories", "*", "*", "name"): {"*": "a factory name must be specified"},
    ("factories", "*", "*", "jobs"): {"missing": "a list of jobs must be specified", "*": "jobs must be a list"},
    **{
        ("factories", "*", "repeat", alias): {
            "missing": "a factory of type repeat must have number specified",
            "type": "number of repeats must be an integer",
            "min": "number of repeats must be at least 1",
        }
        for alias in ("number", "num")
    },
    **{
        params: {
            "missing": f"a factory of type {params[2]} must have parameters specified",
            "type": "parameters must be a list",
            "max": "Currently only parameter sweeps up to 4D are supported",
            "unique": "each parameter must have a unique name",
            "lengths": "all parameters must lists of values the same length",
        }
        for params in (_SWEEP, _ZIP)
    },
    (*_ZIP, "*"): {"type": "a parameter must contain a name"},
    **{(*params, "*", "name"): {"*": "a parameter must contain a name"} for params in (_SWEEP, _ZIP)},
    (*_SWEEP, "*"): {
        "type": "a parameter must contain a name",
        "no_step": "a parameter must contain a step size or number of steps",
        "step_and_number": "a parameter cannot have both a step size and number of steps",
    },
    **{
        (*_SWEEP, "*", bound): {"missing": f"a parameter must contain {what}", "*": "start and end values must be numbers"}
        for bound, what in (("start", "a start value"), ("end", "an end value"))
    },
    (*_SWEEP, "*", "step"): {"*": "the step size must be a positive number"},
    (*_SWEEP, "*", "number"): {"*": "the number of steps must be a positive integer"},
    (*_ZIP, "*", "values"): {"missing": "a parameter must contain a list of values", "*": "values must be a list"},
    ("policies",): {"type": "policies must be defined as a dict", "extra": 'invalid item "{key}" in policies'},
    ("policies", "maximumRetries"): _count("retries", 10),
    ("policies", "maximumReruns"): _count("reruns", 10),
    ("policies", "leaveInQueue"): {"*": _BOOL},
    **_PLACEMENT,
    **_NOTIFICATIONS,
}
MESSAGES: dict[str, dict[tuple[str, ...], dict[str, str]]] = {"job": _JOB, "workflow": _WORKFLOW}

_MIN = {"greater_than", "greater_than_equal", "too_short", "string_too_short"}
_MAX = {"less_than", "less_than_equal", "too_long", "string_too_long"}
_KINDS = {
    "missing": "missing",
    "union_tag_not_found": "missing",
    "string_pattern_mismatch": "pattern",
    "union_tag_invalid": "tag",
}


def to_spec_error(exc: ValidationError, schema: str = "job") -> SpecError:
    """The SpecError for the error the original validator would have reported first.
    `schema`: "job" or "workflow", the MESSAGES section of the model that was validated."""
    return SpecError(_message(_first(exc.errors(include_url=False)), schema))


def rule_message(schema: str, loc: tuple[Any, ...], rule: str, **values: Any) -> str:
    """The message of hand-written rule `rule` failing at `loc` (a KeyError is a missing entry)."""
    return (_entry(MESSAGES[schema], loc) or {})[rule].format(**values)


def _first(errors: list[Any]) -> Any:
    """Pydantic lists errors depth-first in field order but puts a model's unknown keys after
    its fields; the original checked unknown keys before anything else at the same level."""

    def rank(i: int) -> tuple[int, int, int, int]:
        err = errors[i]
        if err["type"] != "extra_forbidden":
            return (i, 1, 0, i)
        parent = err["loc"][:-1]
        start = next(j for j, e in enumerate(errors) if e["loc"][: len(parent)] == parent)
        return (start, 0, len(parent), i)

    return errors[min(range(len(errors)), key=rank)]


def _kind(err: Any, schema: str) -> str:
    etype, value = err["type"], err.get("input")
    if etype in _KINDS:
        return _KINDS[etype]
    if etype in _MIN:
        ctx = err.get("ctx") or {}
        bound = ctx.get("ge", ctx.get("gt"))
        # The original job validator tested str(v).isdigit(): a negative number "is not an integer".
        numeric = isinstance(value, (int, float)) and isinstance(bound, (int, float))
        return "type" if schema == "job" and numeric and value < 0 <= bound else "min"
    return "max" if etype in _MAX else "type"


def _entry(table: dict[tuple[str, ...], dict[str, str]], loc: tuple[Any, ...]) -> dict[str, str] | None:
    for pattern, entry in table.items():
        if len(pattern) == len(loc) and all(p in ("*", part) for p, part in zip(pattern, loc, strict=True)):
            return entry
    return None


def _message(err: Any, schema: str) -> str:
    loc = tuple(err["loc"])
    if schema == "workflow" and len(loc) >= 2 and loc[0] == "jobs" and isinstance(loc[1], int):
        schema, loc = "job", loc[2:]  # inside one of the workflow's jobs: a job's message
    if err["type"] == _RULE:
        values = dict(err["ctx"])
        return rule_message(schema, loc, values.pop("rule"), **values)
    table, kind, key = MESSAGES[schema], _kind(err, schema), None
    if err["type"] == "extra_forbidden":
        loc, kind, key = loc[:-1], "extra", loc[-1]
    for depth in range(len(loc), -1, -1):
        entry = _entry(table, loc[:depth]) or {}
        template = (entry.get(kind) if depth == len(loc) else None) or entry.get("*")
        if template:
            name = key if key is not None else (loc[depth - 1] if depth else "")
            bounds = {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in (err.get("ctx") or {}).items()}
            return template.format(key=name, input=err.get("input"), **bounds)
    return "invalid value for " + ".".join(str(part) for part in err["loc"])
