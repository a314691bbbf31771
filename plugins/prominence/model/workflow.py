"""Request schema of a workflow description (docs/api.md), validated by pydantic.

Each element of `jobs` is a job description (§3) that must have a name; factories are in
`factories.py`. Messages come from `errors.MESSAGES`. Beyond the original (spec "Implement"
notes): parents named in `dependencies` must be defined jobs, the graph must be acyclic, and a
job may belong to at most one factory. Caps against absurd requests (settings
`max_workflow_jobs`, `max_workflow_members`) are checked from sizes, before anything is listed.
"""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, PrivateAttr, StringConstraints, ValidationError, field_validator, model_validator

from prominence.config import get_settings
from prominence.model.errors import spec_error, to_spec_error
from prominence.model.factories import Factory, substitute
from prominence.model.job import JobDescription, Labels, Placement, WireModel, at_most, unsupported_task_type

_Name = Annotated[str, StringConstraints(max_length=512, pattern=r"^[a-zA-Z0-9\-\_\s\.\/]*$")]
_Count = Annotated[int, Field(ge=1, le=10)]


class WorkflowPolicies(WireModel):
    """`maximumRetries` of each failing job; `maximumReruns` is accepted and unused (§7.1)."""

    maximum_retries: _Count = 0
    maximum_reruns: _Count = 0
    leave_in_queue: bool = False
    placement: Placement | None = None


class WorkflowNotification(WireModel):
    event: Literal["workflowFinished"]
    type: Literal["email"]


def _supported(job: JobDescription) -> JobDescription:
    kind = unsupported_task_type(job)
    if kind is not None:
        raise spec_error("unsupported_task", type=kind)
    if job.storage is not None:
        raise spec_error("unmountable")
    return job


def _unique_names(jobs: list[JobDescription]) -> list[JobDescription]:
    seen: set[str] = set()
    for job in jobs:
        if job.name in seen:
            raise spec_error("unique", name=job.name)
        seen.add(job.name)
    return jobs


class WorkflowDescription(WireModel):
    """A validated workflow; `stored` is the description as submitted (for describe and clone)."""

    name: _Name = ""
    labels: Labels = Field(default_factory=dict)
    jobs: Annotated[
        list[Annotated[JobDescription, AfterValidator(_supported)]], Field(min_length=1), AfterValidator(_unique_names)
    ]
    dependencies: dict[str, list[str]] = Field(default_factory=dict)
    factories: list[Factory] = Field(default_factory=list)
    policies: WorkflowPolicies = Field(default_factory=WorkflowPolicies)
    notifications: list[WorkflowNotification] = Field(default_factory=list)
    _stored: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_submitted(cls, data: Any, handler: Any) -> WorkflowDescription:
        description = handler(data)
        description._stored = dict(data)
        return description

    @field_validator("jobs", mode="before")
    @classmethod
    def _job_count(cls, jobs: Any) -> Any:
        return at_most(jobs, get_settings().max_workflow_jobs)

    @model_validator(mode="after")
    def _graph(self) -> WorkflowDescription:
        names = {job.name for job in self.jobs}
        for parent, children in self.dependencies.items():
            for child in children:
                if child not in names:
                    raise spec_error("unknown_child", child=child)
            if parent not in names:
                raise spec_error("unknown_parent", parent=parent)
        owner: set[str] = set()
        for factory in self.factories:
            for job in factory.jobs:
                if job not in names:
                    raise spec_error("unknown_factory_job", factory=factory.name, job=job)
                if job in owner:
                    raise spec_error("two_factories", job=job)
                owner.add(job)
        try:
            TopologicalSorter(self.parents()).prepare()
        except CycleError:
            raise spec_error("cycle") from None
        total, limit = self.total, get_settings().max_workflow_members
        if total > limit:
            raise spec_error("too_many_members", count=total, limit=limit)
        return self

    # -- what the engine asks ------------------------------------------------------------

    @property
    def stored(self) -> dict[str, Any]:
        return self._stored

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
        if job is None:
            raise KeyError(f"workflow has no job {name}")
        stored = job.to_stored()
        stored["policies"] = dict(stored.get("policies", {}))
        stored["policies"].pop("leaveInQueue", None)
        if self.policies.placement is not None:
            stored["policies"]["placement"] = self.policies.placement.model_dump(by_alias=True, exclude_unset=True)
        if not stored["policies"]:
            del stored["policies"]
        factory = self.factory_of(name)
        if factory is None or index is None:
            return stored, None
        params = factory.member(index)
        return substitute(stored, params), params


def parse_workflow(data: object) -> WorkflowDescription:
    """Validate decoded JSON as a workflow description; `SpecError` carries the first problem."""
    try:
        return WorkflowDescription.model_validate(data, context={"in_workflow": True})
    except ValidationError as exc:
        raise to_spec_error(exc, "workflow") from exc


__all__ = ["WorkflowDescription", "WorkflowNotification", "WorkflowPolicies", "parse_workflow"]
