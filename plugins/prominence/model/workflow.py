"""Request schema of a workflow description (API.md §7.1–7.2), validated by pydantic.

Every rule raises the spec's exact message (`spec_error`), checked in the order the original
server checked them; each element of `jobs` is validated as a job with `parse_job(in_workflow=True)`.
Beyond the original (spec "Implement" notes): parents named in `dependencies` must be defined
jobs, the graph must be acyclic, a job may belong to at most one factory, `repeat` accepts `num`
as an alias of `number`, and a sweep parameter may give `number` (of values) instead of `step`.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from prominence.model.errors import SpecError, spec_error, to_spec_error
from prominence.model.job import JobDescription, check_supported, parse_job

MAX_SWEEP_DIMENSIONS = 4
_NAME = re.compile(r"^[a-zA-Z0-9\-\_\s\.\/]+$")
_TOP = ("name", "labels", "jobs", "dependencies", "factories", "policies", "notifications")
_POLICIES = ("maximumRetries", "maximumReruns", "leaveInQueue", "placement")
# A minimal job whose fields stand in for workflow labels/placement, so they get the job's rules.
_PROBE = {"resources": {"cpus": 1, "memory": 1}, "tasks": [{"image": "probe"}]}


def _count(value: Any, what: str) -> int:
    """`maximumRetries`/`maximumReruns`: an integer 1–10."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise spec_error(f"the number of {what} must be an integer")
    if value < 1:
        raise spec_error(f"the number of {what} must be greater than 0")
    if value > 10:
        raise spec_error(f"the number of {what} must be less than 10")
    return value


def render(value: float | int | str) -> int | float | str:
    """A parameter value as jobs see it: integral numbers without decimals (`1.0` → 1)."""
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class WorkflowPolicies(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    maximum_retries: int = 0
    maximum_reruns: int = 0
    leave_in_queue: bool = False
    placement: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _rules(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise spec_error("policies must be defined as a dict")
        for key in data:
            if key not in _POLICIES:
                raise spec_error(f'invalid item "{key}" in policies')
        out: dict[str, Any] = {}
        if "maximumRetries" in data:
            out["maximum_retries"] = _count(data["maximumRetries"], "retries")
        if "maximumReruns" in data:
            out["maximum_reruns"] = _count(data["maximumReruns"], "reruns")
        if "leaveInQueue" in data:
            if not isinstance(data["leaveInQueue"], bool):
                raise spec_error("leaveInQueue must be either true or false")
            out["leave_in_queue"] = data["leaveInQueue"]
        if "placement" in data:
            parse_job({**_PROBE, "policies": {"placement": data["placement"]}})
            out["placement"] = data["placement"]
        return out


class Factory(BaseModel):
    """A rule that turns each of its jobs into numbered instances with their own parameters."""

    name: str
    type: Literal["parameterSweep", "zip", "repeat"]
    jobs: list[str]
    # Values per parameter, in declaration order (the first varies slowest in a sweep).
    parameters: dict[str, list[Any]] = {}
    number: int = 1

    @model_validator(mode="before")
    @classmethod
    def _rules(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise spec_error("a factory type must be specified")
        if "type" not in data:
            raise spec_error("a factory type must be specified")
        if "name" not in data:
            raise spec_error("a factory name must be specified")
        if "jobs" not in data:
            raise spec_error("a list of jobs must be specified")
        if not isinstance(data["jobs"], list) or not all(isinstance(j, str) for j in data["jobs"]):
            raise spec_error("jobs must be a list")
        kind = data["type"]
        out = {"name": str(data["name"]), "type": kind, "jobs": data["jobs"]}
        if kind == "repeat":
            number = data.get("number", data.get("num"))
            if number is None:
                raise spec_error("a factory of type repeat must have number specified")
            if isinstance(number, bool) or not isinstance(number, int):
                raise spec_error("number of repeats must be an integer")
            if number < 1:
                raise spec_error("number of repeats must be at least 1")
            return {**out, "number": number}
        if kind == "parameterSweep":
            return {**out, **_sweep(data.get("parameters"))}
        if kind == "zip":
            return {**out, **_zip(data.get("parameters"))}
        raise spec_error("invalid factory type")

    @property
    def size(self) -> int:
        if self.type == "repeat":
            return self.number
        if self.type == "zip":
            return len(next(iter(self.parameters.values()), []))
        return math.prod(len(values) for values in self.parameters.values())

    def instance(self, index: int) -> dict[str, Any]:
        """Parameters of instance `index` (0-based), computed without listing the others."""
        if self.type == "repeat":
            return {}
        if self.type == "zip":
            return {name: render(values[index]) for name, values in self.parameters.items()}
        chosen: dict[str, Any] = {}
        for name, values in reversed(list(self.parameters.items())):
            index, position = divmod(index, len(values))
            chosen[name] = values[position]
        return {name: chosen[name] for name in self.parameters}


def _parameter_list(params: Any, kind: str) -> list[Any]:
    if params is None:
        raise spec_error(f"a factory of type {kind} must have parameters specified")
    if not isinstance(params, list):
        raise spec_error("parameters must be a list")
    return params


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _sweep(params: Any) -> dict[str, Any]:
    params = _parameter_list(params, "parameterSweep")
    if len(params) > MAX_SWEEP_DIMENSIONS:
        raise spec_error("Currently only parameter sweeps up to 4D are supported")
    values: dict[str, list[Any]] = {}
    for param in params:
        if not isinstance(param, dict) or "name" not in param:
            raise spec_error("a parameter must contain a name")
        if "start" not in param:
            raise spec_error("a parameter must contain a start value")
        if "end" not in param:
            raise spec_error("a parameter must contain an end value")
        if "step" not in param and "number" not in param:
            raise spec_error("a parameter must contain a step size or number of steps")
        if "step" in param and "number" in param:
            raise spec_error("a parameter cannot have both a step size and number of steps")
        start, end, step, number = param["start"], param["end"], param.get("step"), param.get("number")
        if not (_number(start) and _number(end)):
            raise spec_error("start and end values must be numbers")
        if number is not None:
            if isinstance(number, bool) or not isinstance(number, int) or number < 1:
                raise spec_error("the number of steps must be a positive integer")
            step = (end - start) / (number - 1) if number > 1 else None
        elif not _number(step) or step <= 0:
            raise spec_error("the step size must be a positive number")
        if param["name"] in values:
            raise spec_error("each parameter must have a unique name")
        values[str(param["name"])] = _steps(start, end, step)
    return {"parameters": values}


def _steps(start: float, end: float, step: float | None) -> list[Any]:
    """start + k·step while ≤ end (end inclusive up to rounding), rendered per spec."""
    if step is None or end < start:
        return [render(start)]
    count = math.floor((end - start) / step + 1e-9) + 1
    return [render(round(start + k * step, 12)) for k in range(count)]


def _zip(params: Any) -> dict[str, Any]:
    params = _parameter_list(params, "zip")
    values: dict[str, list[Any]] = {}
    for param in params:
        if not isinstance(param, dict) or "name" not in param:
            raise spec_error("a parameter must contain a name")
        if "values" not in param:
            raise spec_error("a parameter must contain a list of values")
        if not isinstance(param["values"], list):
            raise spec_error("values must be a list")
        if param["name"] in values:
            raise spec_error("each parameter must have a unique name")
        values[str(param["name"])] = param["values"]
    if len({len(v) for v in values.values()}) > 1:
        raise spec_error("all parameters must lists of values the same length")
    return {"parameters": values}


class WorkflowDescription(BaseModel):
    """A validated workflow; `stored` is the description as submitted (for describe and clone)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str = ""
    labels: dict[str, str] = {}
    jobs: list[JobDescription]
    dependencies: dict[str, list[str]] = {}
    factories: list[Factory] = []
    policies: WorkflowPolicies = WorkflowPolicies()
    notifications: list[dict[str, str]] = []
    stored: dict[str, Any] = {}

    @model_validator(mode="before")
    @classmethod
    def _top(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise spec_error("a workflow description must be a JSON object")
        for key in data:
            if key not in _TOP:
                raise spec_error(f'invalid item "{key}" in workflow description')
        if "jobs" not in data:
            raise spec_error("a workflow must contain jobs")
        return {**data, "stored": dict(data)}

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, name: Any) -> str:
        if not isinstance(name, str):
            raise spec_error("invalid workflow name")
        if len(name) > 512:
            raise spec_error("workflow name must be less than 512 characters in length")
        if name and not _NAME.match(name):
            raise spec_error("invalid workflow name")
        return name

    @field_validator("labels", mode="before")
    @classmethod
    def _labels(cls, labels: Any) -> Any:
        return parse_job({**_PROBE, "labels": labels}).labels

    @field_validator("jobs", mode="before")
    @classmethod
    def _jobs(cls, jobs: Any) -> list[JobDescription]:
        if not isinstance(jobs, list) or not jobs:
            raise spec_error("a workflow must contain jobs")
        parsed = [_job(job) for job in jobs]
        seen: set[str] = set()
        for job in parsed:
            if job.name in seen:
                raise spec_error(f'all jobs must have unique names: "{job.name}" is used more than once')
            seen.add(job.name)
        return parsed

    @field_validator("dependencies", mode="before")
    @classmethod
    def _dependencies(cls, deps: Any) -> Any:
        if not isinstance(deps, dict):
            raise spec_error("dependencies must be a dict")
        for children in deps.values():
            if not isinstance(children, list) or not all(isinstance(c, str) for c in children):
                raise spec_error("children of parent job must be in the form of a list")
        return deps

    @field_validator("factories", mode="before")
    @classmethod
    def _factories(cls, factories: Any) -> Any:
        if not isinstance(factories, list):
            raise spec_error("factories must be a list")
        return factories

    @field_validator("notifications", mode="before")
    @classmethod
    def _notifications(cls, notifications: Any) -> Any:
        if not isinstance(notifications, list):
            raise spec_error("notifications must be in the form of a list")
        for item in notifications:
            if not isinstance(item, dict):
                raise spec_error("each notification must be an object")
            for key in item:
                if key not in ("event", "type"):
                    raise spec_error(f'invalid item "{key}" in notifications')
            if "event" not in item:
                raise spec_error("a notification event must be defined")
            if item["event"] != "workflowFinished":
                raise spec_error(f'invalid notification event "{item["event"]}"')
            if "type" not in item:
                raise spec_error("a notification type must be defined")
            if item["type"] != "email":
                raise spec_error(f'invalid notification type "{item["type"]}"')
        return notifications

    @model_validator(mode="after")
    def _graph(self) -> "WorkflowDescription":
        names = {job.name for job in self.jobs}
        for parent, children in self.dependencies.items():
            for child in children:
                if child not in names:
                    raise spec_error(f'child job "{child}" is not actually defined')
            if parent not in names:
                raise spec_error(f'parent job "{parent}" is not actually defined')
        owner: dict[str, str] = {}
        for factory in self.factories:
            for job in factory.jobs:
                if job not in names:
                    raise spec_error(f"factory {factory.name} references a job {job} which is not defined")
                if job in owner:
                    raise spec_error(f"job {job} is referenced by more than one factory")
                owner[job] = factory.name
        if _has_cycle(self.dependencies):
            raise spec_error("dependencies must not contain cycles")
        return self

    # -- what the engine asks ------------------------------------------------------------

    def job(self, name: str) -> JobDescription | None:
        return next((job for job in self.jobs if job.name == name), None)

    def factory_of(self, name: str) -> Factory | None:
        return next((f for f in self.factories if name in f.jobs), None)

    def size_of(self, name: str) -> int:
        """Instances of job `name`: its factory's size, or 1."""
        factory = self.factory_of(name)
        return factory.size if factory else 1

    @property
    def total(self) -> int:
        return sum(self.size_of(job.name) for job in self.jobs)

    def parents(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {job.name: [] for job in self.jobs}
        for parent, children in self.dependencies.items():
            for child in children:
                result[child].append(parent)
        return result

    def instance(self, name: str, index: int | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The job description of one instance, in wire form, and its parameters (None if not a factory job)."""
        job = self.job(name)
        assert job is not None
        stored = job.to_stored()
        stored["policies"] = dict(stored.get("policies", {}))
        stored["policies"].pop("leaveInQueue", None)
        if self.policies.placement is not None:
            stored["policies"]["placement"] = self.policies.placement
        if not stored["policies"]:
            del stored["policies"]
        factory = self.factory_of(name)
        if factory is None or index is None:
            return stored, None
        params = factory.instance(index)
        return substitute(stored, params), params


_PARAM = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def substitute(job: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Spec §7.2: `$x`/`${x}` in task cmds and output names, and PROMINENCE_PARAMETER_x in env."""
    text = {name: str(value) for name, value in params.items()}

    def fill(s: str) -> str:
        return _PARAM.sub(lambda m: text.get(m.group(1) or m.group(2), m.group(0)), s)

    job = {**job, "tasks": [dict(task) for task in job["tasks"]]}
    for task in job["tasks"]:
        if task.get("cmd"):
            task["cmd"] = fill(task["cmd"])
        task["env"] = {**task.get("env", {}), **{f"PROMINENCE_PARAMETER_{k}": v for k, v in text.items()}}
    for key in ("outputFiles", "outputDirs"):
        if key in job:
            job[key] = [fill(name) for name in job[key]]
    return job


def _job(data: Any) -> JobDescription:
    try:
        job = parse_job(data, in_workflow=True)
        check_supported(job)
        return job
    except SpecError as exc:
        raise spec_error(exc.message) from None


def _has_cycle(deps: dict[str, list[str]]) -> bool:
    state: dict[str, int] = {}

    def visit(node: str) -> bool:
        if state.get(node) == 1:
            return True
        if state.get(node) == 2:
            return False
        state[node] = 1
        if any(visit(child) for child in deps.get(node, [])):
            return True
        state[node] = 2
        return False

    return any(visit(node) for node in list(deps))


def parse_workflow(data: object) -> WorkflowDescription:
    """Validate decoded JSON as a workflow description; `SpecError` carries the first problem."""
    try:
        return WorkflowDescription.model_validate(data)
    except ValidationError as exc:
        raise to_spec_error(exc) from exc


__all__ = ["Factory", "WorkflowDescription", "parse_workflow", "render", "substitute"]
