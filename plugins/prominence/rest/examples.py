"""Request bodies of `POST /jobs` and `POST /workflows` as the OpenAPI document shows them:
the schema and examples a client (or a fuzzer starting from them) can send as they are."""

from __future__ import annotations

from typing import Any

from prominence.model.job import JobDescription
from prominence.model.workflow import WorkflowDescription

TASK = {"image": "busybox", "runtime": "singularity", "cmd": "echo hello"}
RESOURCES = {"nodes": 1, "cpus": 1, "memory": 1, "disk": 10}
JOB_EXAMPLES = {
    "one task": {"value": {"name": "hello", "resources": RESOURCES, "tasks": [TASK]}},
    "staged": {
        "value": {
            "name": "staged",
            "resources": {"cpusRange": [1, 4], "memoryPerCpu": 1, "disk": 10, "walltime": 60},
            "tasks": [{"image": "busybox", "runtime": "udocker", "cmd": "sh -c 'wc -c input.txt > count.txt'"}],
            "inputs": [{"filename": "input.txt", "content": "aGVsbG8K"}],
            "outputFiles": ["count.txt"],
            "policies": {"maximumRetries": 2, "priority": 5, "leaveInQueue": True},
            "labels": {"project": "demo"},
        }
    },
}
WORKFLOW_EXAMPLES = {
    "two steps": {
        "value": {
            "name": "pipeline",
            "jobs": [
                {"name": "first", "resources": RESOURCES, "tasks": [TASK]},
                {"name": "second", "resources": RESOURCES, "tasks": [TASK]},
            ],
            "dependencies": {"first": ["second"]},
        }
    },
    "sweep": {
        "value": {
            "name": "sweep",
            "jobs": [{"name": "step", "resources": RESOURCES, "tasks": [{**TASK, "cmd": "echo $x"}]}],
            "factories": [
                {
                    "name": "xs",
                    "type": "parameterSweep",
                    "jobs": ["step"],
                    "parameters": [{"name": "x", "start": 1, "end": 3, "step": 1}],
                }
            ],
        }
    },
}


def body(model: type, examples: dict[str, Any]) -> dict[str, Any]:
    """The route's `openapi_extra`: its JSON body's schema and examples."""
    content = {"schema": model.model_json_schema(by_alias=True), "examples": examples}
    return {"requestBody": {"required": True, "content": {"application/json": content}}}


JOB_BODY = body(JobDescription, JOB_EXAMPLES)
WORKFLOW_BODY = body(WorkflowDescription, WORKFLOW_EXAMPLES)
