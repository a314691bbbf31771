"""Workflow factories (docs/api.md): each type knows its size and each member's parameters.

A factory turns each of its jobs into instances numbered 0…size-1. Sizes are computed from the
description (a sweep's values are an arithmetic sequence, never listed), so a factory of 10**12
members costs no more to validate, count or index than one of ten. Beyond the original (spec
"Implement" notes): `repeat` accepts `num` as an alias of `number`, and a sweep parameter may
give `number` (of values) instead of `step`.
"""

from __future__ import annotations

import math
import re
from abc import abstractmethod
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from prominence.model.errors import spec_error

MAX_SWEEP_DIMENSIONS = 4


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


class Steps(Sequence):
    """start + k·step for k = 0…count-1, rendered per spec, computed on access."""

    def __init__(self, start: float, step: float | None, count: int) -> None:
        self.start, self.step, self.count = start, step, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, k: int) -> Any:
        if not 0 <= k < self.count:
            raise IndexError(k)
        return render(self.start if self.step is None else round(self.start + k * self.step, 12))


class _Part(BaseModel):
    """Factories and parameters: strict JSON types; unknown keys ignored, as the original did."""

    model_config = ConfigDict(strict=True, extra="ignore")


_Name = Annotated[str, BeforeValidator(str)]
_Finite = Annotated[float, Field(allow_inf_nan=False)]


class SweepParameter(_Part):
    """One dimension of a sweep: from `start` to `end` (inclusive) by `step`, or in `number` values."""

    name: _Name
    start: _Finite
    end: _Finite
    step: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    number: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _step_or_number(self) -> SweepParameter:
        if self.step is None and self.number is None:
            raise spec_error("no_step")
        if self.step is not None and self.number is not None:
            raise spec_error("step_and_number")
        return self

    @property
    def values(self) -> Steps:
        step = self.step
        if self.number is not None:
            step = (self.end - self.start) / (self.number - 1) if self.number > 1 else None
        if step is None or self.end < self.start:
            return Steps(self.start, None, 1)
        return Steps(self.start, step, math.floor((self.end - self.start) / step + 1e-9) + 1)


class ZipParameter(_Part):
    name: _Name
    values: list[Any]


def _unique(params: list[Any]) -> list[Any]:
    names = [param.name for param in params]
    if len(set(names)) < len(names):
        raise spec_error("unique")
    return params


def _same_lengths(params: list[ZipParameter]) -> list[ZipParameter]:
    if len({len(param.values) for param in params}) > 1:
        raise spec_error("lengths")
    return params


class _Factory(_Part):
    name: _Name
    jobs: list[str]

    @property
    @abstractmethod
    def size(self) -> int:
        """Number of members, from the description alone."""

    @abstractmethod
    def member(self, index: int) -> dict[str, Any]:
        """Parameters of member `index` (0-based), computed without listing the others."""

    def _check(self, index: int) -> None:
        if not 0 <= index < self.size:
            raise IndexError(f"factory {self.name} has no member {index}")


class RepeatFactory(_Factory):
    """`number` identical members."""

    type: Literal["repeat"]
    number: Annotated[int, Field(ge=1, validation_alias=AliasChoices("number", "num"))]

    @property
    def size(self) -> int:
        return self.number

    def member(self, index: int) -> dict[str, Any]:
        self._check(index)
        return {}


class SweepFactory(_Factory):
    """The Cartesian product of its parameters' values, the first parameter varying slowest."""

    type: Literal["parameterSweep"]
    parameters: Annotated[list[SweepParameter], Field(max_length=MAX_SWEEP_DIMENSIONS), AfterValidator(_unique)]

    @property
    def size(self) -> int:
        return math.prod(len(param.values) for param in self.parameters)

    def member(self, index: int) -> dict[str, Any]:
        self._check(index)
        chosen: dict[str, Any] = {}
        for param in reversed(self.parameters):
            values = param.values
            index, position = divmod(index, len(values))
            chosen[param.name] = values[position]
        return {param.name: chosen[param.name] for param in self.parameters}


class ZipFactory(_Factory):
    """Member i takes the i-th value of every parameter."""

    type: Literal["zip"]
    parameters: Annotated[list[ZipParameter], AfterValidator(_unique), AfterValidator(_same_lengths)]

    @property
    def size(self) -> int:
        return len(self.parameters[0].values) if self.parameters else 0

    def member(self, index: int) -> dict[str, Any]:
        self._check(index)
        return {param.name: render(param.values[index]) for param in self.parameters}


Factory = Annotated[RepeatFactory | SweepFactory | ZipFactory, Field(discriminator="type")]

_PARAM = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def substitute(job: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Spec §7.2: `$x`/`${x}` in task cmds, output names and the names of uploaded objects
    among the artifacts (not in http(s) URLs), and PROMINENCE_PARAMETER_x in env."""
    text = {name: str(value) for name, value in params.items()}

    def fill(s: str) -> str:
        return _PARAM.sub(lambda m: text.get(m.group(1) or m.group(2), m.group(0)), s)

    job = {**job, "tasks": [dict(task) for task in job["tasks"]]}
    for task in job["tasks"]:
        if task.get("cmd"):
            task["cmd"] = fill(task["cmd"])
        task["env"] = {**task.get("env", {}), **{f"PROMINENCE_PARAMETER_{k}": v for k, v in text.items()}}
    if "artifacts" in job:
        job["artifacts"] = [a if "http" in a["url"] else {**a, "url": fill(a["url"])} for a in job["artifacts"]]
    for key in ("outputFiles", "outputDirs"):
        if key in job:
            job[key] = [fill(name) for name in job[key]]
    return job


__all__ = [
    "Factory",
    "RepeatFactory",
    "Steps",
    "SweepFactory",
    "SweepParameter",
    "ZipFactory",
    "ZipParameter",
    "render",
    "substitute",
]
