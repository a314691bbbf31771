"""Turn pydantic validation errors into the single message the API returns (API.md §3).

The original server validated by hand and stopped at the first problem, with a fixed message
per rule; clients and users see those texts. The models in `job.py` let pydantic validate, so
here we (1) pick the error the original would have reported first and (2) translate it by
location and kind through `MESSAGES`. Rules pydantic cannot express raise `spec_error(...)`,
which carries its final message and passes through untouched.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

_SPEC = "spec"


class SpecError(Exception):
    """An invalid request; `message` is the spec's exact text for the `{"error": ...}` body."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def spec_error(message: str) -> PydanticCustomError:
    """An error for a hand-written rule; the message is final (not looked up, not formatted)."""
    return PydanticCustomError(_SPEC, "{message}", {"message": message})


_BOOL = "{key} must be either true or false"
_PLACEMENT = {
    ("policies", "placement", rule): {
        "type": f"{rule} must be defined as a dict",
        "extra": f'invalid item "{{key}}" in {rule}',
    }
    for rule in ("requirements", "preferences")
} | {
    ("policies", "placement", rule, "*"): {"*": f"{{key}} in {rule} must be a list"}
    for rule in ("requirements", "preferences")
}


# Location (wire names; "*" = any list index or dict key) -> kind -> message template.
# Kinds: missing, type (wrong type or value), min, max, pattern, extra (unknown key inside this
# location), "*" (any kind, also used for errors deeper inside this location).
# Templates may use {key} (last element of the location, or the unknown key), {input} and the
# bound of a failed range check ({le}).
MESSAGES: dict[tuple[str, ...], dict[str, str]] = {
    (): {"type": "a job description must be a JSON object", "extra": 'invalid item "{key}" in job description'},
    ("name",): {"max": "job name must be less than 512 characters in length", "*": "invalid job name"},
    ("labels",): {"type": "labels must be defined as a dict"},
    ("labels", "*", "[key]"): {
        "max": "label names must be less than 512 characters in length",
        "*": 'label name "{input}" is invalid',
    },
    ("labels", "*"): {"max": "label values must be less than 512 characters in length", "*": 'label value "{input}" is invalid'},
    # resources
    ("resources",): {
        "missing": "a job must contain resources",
        "type": "resources must be defined as a dict",
        "extra": 'invalid item "{key}" in resources',
    },
    ("resources", "nodes"): {
        "type": "number of nodes must be an integer",
        "min": "number of nodes must be at least 1",
        "max": "number of nodes must be at most {le}",
    },
    ("resources", "totalCpusRange"): {
        "type": "totalCpusRange must be a list",
        "*": "totalCpusRange must be a list containing the min and max allowed total number of CPUs",
    },
    ("resources", "cpus"): {
        "type": "number of cpus must be an integer",
        "min": "number of cpus must be at least 1",
        "max": "number of cpus must be at most {le}",
    },
    ("resources", "cpusRange"): {"*": "cpusRange must be a list containing the min and max allowed number of CPUs"},
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
    ("tasks",): {"missing": "a job must contain tasks", "type": "an array of tasks must be provided"},
    ("tasks", "*"): {"type": "each task must be an object", "extra": 'invalid item "{key}" in task'},
    ("tasks", "*", "image"): {"*": "each task must specify a container image"},
    ("tasks", "*", "imagePullCredential"): {
        "extra": 'invalid item "{key}" in image pull credential',
        "*": "a username and token must be specified in the image pull credential",
    },
    ("tasks", "*", "runtime"): {"*": "the container runtime must be either udocker or singularity"},
    ("tasks", "*", "env"): {"*": "environment variables must be defined as a dict"},
    ("tasks", "*", "app"): {"*": "app must be a string"},
    ("tasks", "*", "procsPerNode"): {
        "type": "number of processes per node must be an integer",
        "min": "number of processes per node must be at least 1",
        "max": "number of processes per node must be less than number of CPU cores per node",
    },
    ("tasks", "*", "cmd"): {"*": "cmd must be a string"},
    ("tasks", "*", "type"): {"*": "invalid task type"},
    **{("tasks", "*", field): {"*": f"{field} must be a string"} for field in ("workdir", "imageSha256", "stdout")},
    # inputs, artifacts, outputs
    ("artifacts",): {"type": "an array of artifacts must be provided"},
    ("artifacts", "*"): {"type": "each artifact must be an object", "extra": "invalid item {key} in artifact"},
    ("artifacts", "*", "url"): {"*": "an artifact must contain a URL"},
    ("artifacts", "*", "mountpoint"): {"*": "invalid mountpoint for artifact"},
    ("artifacts", "*", "executable"): {"*": _BOOL},
    ("outputFiles",): {"type": "an array of outputFiles must be provided", "*": "outputFiles must be a list of strings"},
    ("outputDirs",): {"type": "an array of outputDirs must be provided", "*": "outputDirs must be a list of strings"},
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
    ("policies", "placement"): {
        "type": "placement policy must be defined as a dict",
        "extra": 'invalid item "{key}" in placement policy',
    },
    **_PLACEMENT,
    ("policies", "priority"): {"max": "the priority must be at most {le}", "*": "the priority must be an integer"},
    ("policies", "autoScalingType"): {"*": "autoScalingType, if defined, must be none, dedicated or shared"},
    ("policies", "maximumRetries"): {
        "type": "the number of retries must be an integer",
        "min": "the number of retries must be greater than 0",
        "max": "the number of retries must be less than 6",
    },
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
    # notifications
    ("notifications",): {"type": "notifications must be in the form of a list"},
    ("notifications", "*"): {"type": "each notification must be an object", "extra": 'invalid item "{key}" in notifications'},
    ("notifications", "*", "event"): {"missing": "a notification event must be defined", "*": 'invalid notification event "{input}"'},
    ("notifications", "*", "type"): {"missing": "a notification type must be defined", "*": 'invalid notification type "{input}"'},
}

_MIN = {"greater_than", "greater_than_equal", "too_short", "string_too_short"}
_MAX = {"less_than", "less_than_equal", "too_long", "string_too_long"}


def to_spec_error(exc: ValidationError) -> SpecError:
    """The SpecError for the error the original validator would have reported first."""
    return SpecError(_message(_first(exc.errors(include_url=False))))


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


def _kind(err: Any) -> str:
    etype, value = err["type"], err.get("input")
    if etype == "missing":
        return "missing"
    if etype == "string_pattern_mismatch":
        return "pattern"
    if etype in _MIN:
        ctx = err.get("ctx") or {}
        bound = ctx.get("ge", ctx.get("gt"))
        # The original tested str(v).isdigit(): a negative number "is not an integer".
        numeric = isinstance(value, (int, float)) and isinstance(bound, (int, float))
        return "type" if numeric and value < 0 <= bound else "min"
    return "max" if etype in _MAX else "type"


def _entry(loc: tuple[Any, ...]) -> dict[str, str] | None:
    for pattern, entry in MESSAGES.items():
        if len(pattern) == len(loc) and all(p in ("*", part) for p, part in zip(pattern, loc)):
            return entry
    return None


def _message(err: Any) -> str:
    if err["type"] == _SPEC:
        return err["msg"]
    loc, kind, key = tuple(err["loc"]), _kind(err), None
    if err["type"] == "extra_forbidden":
        loc, kind, key = loc[:-1], "extra", loc[-1]
    for depth in range(len(loc), -1, -1):
        entry = _entry(loc[:depth]) or {}
        template = (entry.get(kind) if depth == len(loc) else None) or entry.get("*")
        if template:
            name = key if key is not None else (loc[depth - 1] if depth else "")
            bounds = {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in (err.get("ctx") or {}).items()}
            return template.format(key=name, input=err.get("input"), **bounds)
    return "invalid value for " + ".".join(str(part) for part in err["loc"])
