"""Workflow descriptions (spec §7.1–7.2): messages, factories and parameter substitution."""

from __future__ import annotations

import pytest

from prominence.model.errors import SpecError
from prominence.model.workflow import parse_workflow


def job(name: str, cmd: str = "echo $x ${y} $xy $unknown") -> dict:
    return {"name": name, "resources": {"cpus": 1, "memory": 1}, "tasks": [{"image": "busybox", "cmd": cmd}]}


def sweep(*params: dict) -> dict:
    return {"jobs": [job("a")], "factories": [{"name": "f", "type": "parameterSweep", "jobs": ["a"], "parameters": list(params)}]}


@pytest.mark.parametrize(
    "body, message",
    [
        ([], "a workflow description must be a JSON object"),
        ({"jobs": [job("a")], "x": 1}, 'invalid item "x" in workflow description'),
        ({"jobs": []}, "a workflow must contain jobs"),
        ({"name": "bad!", "jobs": [job("a")]}, "invalid workflow name"),
        ({"name": "n" * 513, "jobs": [job("a")]}, "workflow name must be less than 512 characters in length"),
        ({"jobs": [{**job("a"), "name": ""}]}, "names of jobs in workflows cannot be empty"),
        ({"jobs": [job("a"), job("a")]}, 'all jobs must have unique names: "a" is used more than once'),
        ({"jobs": [job("a")], "dependencies": []}, "dependencies must be a dict"),
        ({"jobs": [job("a")], "dependencies": {"a": "b"}}, "children of parent job must be in the form of a list"),
        ({"jobs": [job("a")], "dependencies": {"z": ["a"]}}, 'parent job "z" is not actually defined'),
        ({"jobs": [job("a"), job("b")], "dependencies": {"a": ["b"], "b": ["a"]}}, "dependencies must not contain cycles"),
        ({"jobs": [job("a")], "policies": {"x": 1}}, 'invalid item "x" in policies'),
        ({"jobs": [job("a")], "policies": {"maximumRetries": 0}}, "the number of retries must be greater than 0"),
        ({"jobs": [job("a")], "policies": {"maximumReruns": "1"}}, "the number of reruns must be an integer"),
        ({"jobs": [job("a")], "policies": {"leaveInQueue": 1}}, "leaveInQueue must be either true or false"),
        (
            {"jobs": [job("a")], "notifications": [{"event": "jobFinished", "type": "email"}]},
            'invalid notification event "jobFinished"',
        ),
        ({"jobs": [job("a")], "factories": {}}, "factories must be a list"),
        ({"jobs": [job("a")], "factories": [{"name": "f", "jobs": ["a"]}]}, "a factory type must be specified"),
        ({"jobs": [job("a")], "factories": [{"name": "f", "type": "x", "jobs": ["a"]}]}, "invalid factory type"),
        (
            {"jobs": [job("a")], "factories": [{"name": "f", "type": "repeat", "jobs": ["b"], "number": 2}]},
            "factory f references a job b which is not defined",
        ),
        (
            {"jobs": [job("a")], "factories": [{"name": "f", "type": "repeat", "jobs": ["a"], "number": 0}]},
            "number of repeats must be at least 1",
        ),
        (
            sweep(*[{"name": f"p{i}", "start": 0, "end": 1, "step": 1} for i in range(5)]),
            "Currently only parameter sweeps up to 4D are supported",
        ),
        (sweep({"name": "x", "start": 0, "end": 1}), "a parameter must contain a step size or number of steps"),
        (
            sweep({"name": "x", "start": 0, "end": 1, "step": 1, "number": 2}),
            "a parameter cannot have both a step size and number of steps",
        ),
        (
            sweep({"name": "x", "start": 0, "end": 1, "step": 1}, {"name": "x", "start": 0, "end": 1, "step": 1}),
            "each parameter must have a unique name",
        ),
        (
            {
                "jobs": [job("a")],
                "factories": [
                    {
                        "name": "f",
                        "type": "zip",
                        "jobs": ["a"],
                        "parameters": [{"name": "x", "values": [1]}, {"name": "y", "values": [1, 2]}],
                    }
                ],
            },
            "all parameters must lists of values the same length",
        ),
    ],
)
def test_messages(body, message):
    with pytest.raises(SpecError) as exc:
        parse_workflow(body)
    assert exc.value.message == message


def test_sweep_first_parameter_slowest_float_steps_rendered():
    wf = parse_workflow(sweep({"name": "x", "start": 1, "end": 2, "step": 1}, {"name": "y", "start": 0, "end": 0.3, "step": 0.1}))
    assert wf.total == 8
    params = [wf.instance("a", i)[1] for i in range(8)]
    assert params[:4] == [{"x": 1, "y": 0}, {"x": 1, "y": 0.1}, {"x": 1, "y": 0.2}, {"x": 1, "y": 0.3}]
    assert params[4] == {"x": 2, "y": 0}


def test_number_of_steps_instead_of_step():
    wf = parse_workflow(sweep({"name": "x", "start": 0, "end": 1, "number": 3}))
    assert [wf.instance("a", i)[1] for i in range(wf.total)] == [{"x": 0}, {"x": 0.5}, {"x": 1}]


def test_substitution_in_cmd_env_and_outputs():
    body = sweep({"name": "x", "start": 1, "end": 1, "step": 1}, {"name": "y", "start": 0.5, "end": 0.5, "step": 1})
    body["jobs"][0]["outputFiles"] = ["out-$x.txt"]
    body["jobs"][0]["artifacts"] = [{"url": "in-$x.tgz"}, {"url": "https://h/in-$x.tgz"}]
    stored, params = parse_workflow(body).instance("a", 0)
    assert params == {"x": 1, "y": 0.5}
    assert stored["tasks"][0]["cmd"] == "echo 1 0.5 $xy $unknown"
    assert stored["tasks"][0]["env"] == {"PROMINENCE_PARAMETER_x": "1", "PROMINENCE_PARAMETER_y": "0.5"}
    assert stored["outputFiles"] == ["out-1.txt"]
    # Spec §7.2: uploaded objects' names only; a URL is fetched as written.
    assert stored["artifacts"] == [{"url": "in-1.tgz"}, {"url": "https://h/in-$x.tgz"}]


def test_a_job_with_storage_is_refused():
    storage = {"type": "onedata", "mountpoint": "/data", "onedata": {"provider": "p", "token": "t"}}
    with pytest.raises(SpecError, match="storage \\(OneData mounts\\) is not supported by this server"):
        parse_workflow({"jobs": [{**job("a"), "storage": storage}]})


def test_repeat_accepts_num_and_zip_converts_numbers():
    wf = parse_workflow(
        {
            "jobs": [job("a"), job("b")],
            "factories": [
                {"name": "r", "type": "repeat", "jobs": ["a"], "num": 3},
                {"name": "z", "type": "zip", "jobs": ["b"], "parameters": [{"name": "v", "values": ["1", "x", 2.0]}]},
            ],
        }
    )
    assert (wf.size_of("a"), wf.instance("a", 2)[1]) == (3, {})
    assert [wf.instance("b", i)[1] for i in range(3)] == [{"v": 1}, {"v": "x"}, {"v": 2}]


def test_placement_is_copied_into_every_job_and_leave_in_queue_dropped():
    body = {
        "jobs": [{**job("a"), "policies": {"leaveInQueue": True}}],
        "policies": {"placement": {"requirements": {"sites": ["s1"]}}},
    }
    stored, params = parse_workflow(body).instance("a", None)
    assert params is None
    assert stored["policies"] == {"placement": {"requirements": {"sites": ["s1"]}}}


def test_a_hundred_thousand_member_sweep_is_not_listed():
    wf = parse_workflow(sweep({"name": "x", "start": 0, "end": 99999, "step": 1}))
    assert wf.total == 100_000 and wf.instance("a", 99_999)[1] == {"x": 99999}
