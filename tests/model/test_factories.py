"""Workflow factories (spec §7.2): the `type` picks the factory; sizes and members come from the description."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from prominence.model.errors import SpecError
from prominence.model.factories import Factory, RepeatFactory, SweepFactory, ZipFactory
from prominence.model.workflow import parse_workflow

FACTORY = TypeAdapter(Factory)


def job(name: str) -> dict:
    return {"name": name, "resources": {"cpus": 1, "memory": 1}, "tasks": [{"image": "busybox", "cmd": "echo $x"}]}


@pytest.mark.parametrize(
    "body, kind",
    [
        ({"name": "f", "type": "repeat", "jobs": ["a"], "number": 2}, RepeatFactory),
        (
            {
                "name": "f",
                "type": "parameterSweep",
                "jobs": ["a"],
                "parameters": [{"name": "x", "start": 0, "end": 1, "step": 1}],
            },
            SweepFactory,
        ),
        ({"name": "f", "type": "zip", "jobs": ["a"], "parameters": [{"name": "x", "values": [1]}]}, ZipFactory),
    ],
)
def test_type_picks_the_factory(body, kind):
    assert type(FACTORY.validate_python(body)) is kind


def test_a_zip_with_sweep_parameters_is_refused_as_a_zip():
    body = {
        "jobs": [job("a")],
        "factories": [{"name": "f", "type": "zip", "jobs": ["a"], "parameters": [{"name": "x", "start": 0}]}],
    }
    with pytest.raises(SpecError) as exc:
        parse_workflow(body)
    assert exc.value.message == "a parameter must contain a list of values"


@pytest.mark.parametrize(
    "body, size",
    [
        ({"type": "repeat", "num": 7}, 7),
        (
            {
                "type": "parameterSweep",
                "parameters": [
                    {"name": "x", "start": 0, "end": 1, "step": 0.25},
                    {"name": "y", "start": 1, "end": 3, "number": 3},
                ],
            },
            15,
        ),
        ({"type": "parameterSweep", "parameters": [{"name": "x", "start": 5, "end": 1, "step": 1}]}, 1),
        ({"type": "parameterSweep", "parameters": []}, 1),
        ({"type": "zip", "parameters": [{"name": "x", "values": [1, 2, 3]}, {"name": "y", "values": [4, 5, 6]}]}, 3),
        ({"type": "zip", "parameters": []}, 0),
    ],
)
def test_sizes(body, size):
    factory = FACTORY.validate_python({"name": "f", "jobs": ["a"], **body})
    assert factory.size == size


def test_members_are_computed_per_index_and_bounded():
    sweep = FACTORY.validate_python(
        {
            "name": "f",
            "type": "parameterSweep",
            "jobs": ["a"],
            "parameters": [{"name": "x", "start": 0, "end": 2, "step": 1}, {"name": "y", "start": 0.5, "end": 1.5, "step": 0.5}],
        }
    )
    assert [sweep.member(i) for i in (0, 1, 3, 8)] == [
        {"x": 0, "y": 0.5},
        {"x": 0, "y": 1},
        {"x": 1, "y": 0.5},
        {"x": 2, "y": 1.5},
    ]
    with pytest.raises(IndexError):
        sweep.member(9)
    repeat = FACTORY.validate_python({"name": "r", "type": "repeat", "jobs": ["a"], "number": 10**15})
    assert repeat.member(10**15 - 1) == {}
    with pytest.raises(IndexError):
        repeat.member(-1)


def test_a_huge_sweep_is_indexed_without_listing_its_values():
    sweep = FACTORY.validate_python(
        {
            "name": "f",
            "type": "parameterSweep",
            "jobs": ["a"],
            "parameters": [{"name": "x", "start": 0, "end": 10**12 - 1, "step": 1}],
        }
    )
    assert sweep.size == 10**12
    assert sweep.member(10**12 - 1) == {"x": 10**12 - 1}


@pytest.mark.parametrize(
    "dependencies",
    [{"a": ["a"]}, {"a": ["b"], "b": ["c"], "c": ["a"]}],
)
def test_cycles_are_refused(dependencies):
    body = {"jobs": [job("a"), job("b"), job("c")], "dependencies": dependencies}
    with pytest.raises(SpecError) as exc:
        parse_workflow(body)
    assert exc.value.message == "dependencies must not contain cycles"


def test_a_diamond_is_not_a_cycle():
    wf = parse_workflow({"jobs": [job(n) for n in "abcd"], "dependencies": {"a": ["b", "c"], "b": ["d"], "c": ["d"]}})
    assert wf.parents() == {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}
