"""Workflows on the real stack (spec §7–8): DAG order, failure, retries, reruns, factories,
delete, the official CLI and isolation. Workflows are submitted together by module fixtures
and awaited by the tests, so they run side by side."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from prominence.contract.states import TERMINAL
from prominence.contract.workflows import dag_id_for
from prominence.engine.reconciler import ENDED_WORKFLOW_RUN_GRACE_SECONDS
from tests.integration.api import job
from tests.integration.test_stack import admin_client

CLI = Path(__file__).resolve().parents[2] / ".venv-cli" / "bin" / "prominence"


def wf_job(name: str, image: str, cmd: str) -> dict:
    body = job(image, cmd, name=name)
    del body["tasks"][0]["runtime"]  # the CLI sends workflow jobs without runtime
    return body


def submit(api, body: dict) -> int:
    response = api.client.post("/workflows", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def upload(api, name: str, content: bytes) -> None:
    response = api.client.post("/data/upload", json={"filename": name, "checksum": None})
    assert response.status_code == 201, response.text
    assert httpx.put(response.json()["url"], content=content).status_code == 200


def describe(api, workflow_id: int) -> dict:
    response = api.client.get(f"/workflows/{workflow_id}")
    assert response.status_code == 200, response.text
    return response.json()[0]


def wait(api, workflow_id: int, states=TERMINAL, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        workflow = describe(api, workflow_id)
        if workflow["status"] in states or time.monotonic() > deadline:
            assert workflow["status"] in states, workflow
            return workflow
        time.sleep(0.5)


def jobs_of(api, workflow_id: int) -> dict[str, list[dict]]:
    """The workflow's jobs by name, oldest first."""
    response = api.client.get("/jobs", params={"workflow": "true", "id": workflow_id, "all": "true", "num": -1})
    assert response.status_code == 200, response.text
    found: dict[str, list[dict]] = {}
    for item in sorted(response.json(), key=lambda j: j["id"]):
        found.setdefault(item["name"], []).append(item)
    return found


def diamond(image: str, name: str, b_image: str | None = None, **extra) -> dict:
    jobs = [wf_job(n, image, f"echo {n}") for n in "ABCD"]
    if b_image:
        jobs[1]["tasks"][0]["image"] = b_image
    return {"name": name, "jobs": jobs, "dependencies": {"A": ["B", "C"], "B": ["D"], "C": ["D"]}, **extra}


@pytest.fixture(scope="module")
def registry_tag(stack, sample_image):
    """A tag of the sample image that does not exist yet; `push()` creates it (the "fix")."""
    tag = f"fix{int(time.time())}"
    missing = sample_image.rsplit(":", 1)[0] + f":{tag}"

    def push() -> None:
        done = subprocess.run(
            [
                "skopeo",
                "copy",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                f"docker://{sample_image}",
                f"docker://{missing}",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr

    return missing, push


@pytest.fixture(scope="module")
def submitted(alice, sample_image, registry_tag):
    """Every workflow of this module, submitted at once."""
    missing, _ = registry_tag
    factories = {
        "name": "factories",
        "jobs": [
            wf_job("sweep", sample_image, "echo x=$x y=${y}"),
            wf_job("pairs", sample_image, "sh -c 'echo $PROMINENCE_PARAMETER_a-$b'"),
            wf_job("again", sample_image, "echo repeated"),
        ],
        "factories": [
            {
                "name": "s",
                "type": "parameterSweep",
                "jobs": ["sweep"],
                "parameters": [
                    {"name": "x", "start": 1, "end": 3, "step": 1},
                    {"name": "y", "start": 0, "end": 0.5, "step": 0.5},
                ],
            },
            {
                "name": "z",
                "type": "zip",
                "jobs": ["pairs"],
                "parameters": [{"name": "a", "values": ["u", "v"]}, {"name": "b", "values": [1, 2.5]}],
            },
            {"name": "r", "type": "repeat", "jobs": ["again"], "num": 2},
        ],
    }
    # Accepted while its artifact exists, which is deleted before the job naming it is released.
    upload(alice, "vanishing.txt", b"here at submission")
    vanishing = submit(
        alice,
        {
            "name": "vanishing",
            "jobs": [
                wf_job("first", sample_image, "true"),
                wf_job("reader", sample_image, "cat vanishing.txt") | {"artifacts": [{"url": "vanishing.txt"}]},
            ],
            "dependencies": {"first": ["reader"]},
        },
    )
    assert alice.client.delete("/data/vanishing.txt").status_code == 204
    chain = {
        "name": "chain",
        "jobs": [wf_job(name, sample_image, f"echo {name}") for name in ("first", "middle", "last")],
        "factories": [{"name": "m", "type": "repeat", "jobs": ["middle"], "num": 3}],
        "dependencies": {"first": ["middle"], "middle": ["last"]},
    }
    return {
        "chain": submit(alice, chain),
        "vanishing": vanishing,
        "diamond": submit(alice, diamond(sample_image, "diamond")),
        "broken": submit(alice, diamond(sample_image, "broken", b_image=missing, policies={"maximumRetries": 1})),
        "factories": submit(alice, factories),
        "slow": submit(
            alice,
            {
                "name": "slow",
                "jobs": [wf_job("first", sample_image, "sleep 300"), wf_job("second", sample_image, "echo never")],
                "dependencies": {"first": ["second"]},
            },
        ),
    }


def test_a_job_naming_a_missing_artifact_refuses_the_workflow(alice, sample_image):
    body = {"name": "unstaged", "jobs": [wf_job("a", sample_image, "true") | {"artifacts": [{"url": "absent.txt"}]}]}
    response = alice.client.post("/workflows", json=body)
    assert (response.status_code, response.json()) == (400, {"error": "Artifact absent.txt does not exist"})
    assert alice.client.get("/workflows", params={"name": "unstaged", "all": "true"}).json() == []


def test_an_artifact_deleted_after_submission_fails_its_job_and_the_workflow(alice, submitted):
    workflow = wait(alice, submitted["vanishing"])
    assert workflow["status"] == "failed"
    reader = jobs_of(alice, submitted["vanishing"])["vanishing/reader"][-1]
    assert (reader["status"], reader["statusReason"]) == ("failed", "Artifact vanishing.txt does not exist")


def test_diamond_runs_in_dependency_order(alice, submitted):
    workflow = wait(alice, submitted["diamond"])
    assert workflow["status"] == "completed"
    assert workflow["progress"] == {"total": 4, "done": 4, "failed": 0, "queued": 0, "waiting": 0}
    jobs = {name: found[0] for name, found in jobs_of(alice, submitted["diamond"]).items()}
    assert sorted(jobs) == ["diamond/A", "diamond/B", "diamond/C", "diamond/D"]
    events = {name.split("/")[1]: job["events"] for name, job in jobs.items()}
    for parent, child in (("A", "B"), ("A", "C"), ("B", "D"), ("C", "D")):
        assert events[parent]["endTime"] <= events[child]["createTime"], (parent, child, events)
    response = alice.client.get(f"/workflows/{submitted['diamond']}/D/stdout")
    assert (response.status_code, response.text) == (200, "D\n")
    assert alice.ids("/jobs", name="D", all="true") == [jobs["diamond/D"]["id"]]


def test_a_chain_releases_each_job_once_after_all_instances_of_its_parent_ended(alice, submitted):
    """Dependent jobs are released as their parents' ends are written back, ahead of the DAG's
    nodes, which then find them released: still once each, and never before the parent ended."""
    workflow = wait(alice, submitted["chain"])
    assert workflow["status"] == "completed", workflow
    jobs = jobs_of(alice, submitted["chain"])
    assert {name: len(found) for name, found in jobs.items()} == {
        "chain/first": 1,
        "chain/middle/0": 1,
        "chain/middle/1": 1,
        "chain/middle/2": 1,
        "chain/last": 1,
    }
    first, last = jobs["chain/first"][0]["events"], jobs["chain/last"][0]["events"]
    middle = [jobs[f"chain/middle/{i}"][0]["events"] for i in range(3)]
    assert all(first["endTime"] <= events["createTime"] for events in middle), (first, middle)
    assert max(events["endTime"] for events in middle) <= last["createTime"], (middle, last)
    assert alice.client.get(f"/workflows/{submitted['chain']}/last/stdout").text == "last\n"


def test_failed_job_blocks_descendants_and_only_it_is_retried(alice, submitted):
    workflow = wait(alice, submitted["broken"])
    assert workflow["status"] == "failed"
    jobs = jobs_of(alice, submitted["broken"])
    assert {name: len(found) for name, found in jobs.items()} == {"broken/A": 1, "broken/B": 2, "broken/C": 1}
    assert [j["status"] for j in jobs["broken/B"]] == ["failed", "failed"]
    assert workflow["progress"] == {"total": 4, "done": 2, "failed": 1, "queued": 0, "waiting": 1}


def test_rerun_after_a_fix_runs_only_what_failed(alice, submitted, registry_tag):
    wait(alice, submitted["broken"])
    _, push = registry_tag
    push()
    response = alice.client.put(f"/workflows/{submitted['broken']}")
    assert response.status_code == 200, response.text
    rerun = response.json()["id"]
    assert rerun > submitted["broken"]
    workflow = wait(alice, rerun)
    assert (workflow["status"], workflow["progress"]["done"]) == ("completed", 4)
    assert sorted(jobs_of(alice, rerun)) == ["broken/B", "broken/D"]


def test_factories_name_parameterise_and_run_each_instance(alice, submitted):
    workflow_id = submitted["factories"]
    workflow = wait(alice, workflow_id)
    assert (workflow["status"], workflow["progress"]["total"], workflow["progress"]["done"]) == ("completed", 10, 10)
    jobs = {name: found[0] for name, found in jobs_of(alice, workflow_id).items()}
    sweep = [jobs[f"factories/sweep/{i}"]["parameters"] for i in range(6)]
    assert sweep == [
        {"x": 1, "y": 0},
        {"x": 1, "y": 0.5},
        {"x": 2, "y": 0},
        {"x": 2, "y": 0.5},
        {"x": 3, "y": 0},
        {"x": 3, "y": 0.5},
    ]
    assert [jobs[f"factories/pairs/{i}"]["parameters"] for i in range(2)] == [{"a": "u", "b": 1}, {"a": "v", "b": 2.5}]
    assert [jobs[f"factories/again/{i}"]["parameters"] for i in range(2)] == [{}, {}]
    out = lambda job, i: alice.client.get(f"/workflows/{workflow_id}/{job}/{i}/stdout").text  # noqa: E731
    assert out("sweep", 3) == "x=2 y=0.5\n"
    assert [out("pairs", i) for i in range(2)] == ["u-1\n", "v-2.5\n"]
    assert out("again", 1) == "repeated\n"


def test_delete_stops_running_jobs_and_starts_no_more(alice, submitted):
    workflow_id = submitted["slow"]
    deadline = time.monotonic() + 120
    while not [j for j in jobs_of(alice, workflow_id).get("slow/first", []) if j["status"] == "running"]:
        assert time.monotonic() < deadline, jobs_of(alice, workflow_id)
        time.sleep(0.5)
    response = alice.client.delete(f"/workflows/{workflow_id}")
    assert (response.status_code, response.json()) == (200, {})
    workflow = describe(alice, workflow_id)
    assert (workflow["status"], workflow["statusReason"]) == ("deleted", "Workflow deleted by user")
    first = jobs_of(alice, workflow_id)["slow/first"][0]
    assert (first["status"], first["statusReason"]) == ("deleted", "Job part of a workflow which was deleted by user")
    time.sleep(3)
    assert list(jobs_of(alice, workflow_id)) == ["slow/first"]
    again = alice.client.delete(f"/workflows/{workflow_id}")
    assert (again.status_code, again.json()) == (400, {"error": "No such workflow(s)"})


def test_a_run_of_a_deleted_workflow_begun_after_its_delete_is_failed(stack, alice, sample_image):
    """A run the scheduler creates after the delete found none to stop (here: triggered from
    Airflow's API) would stay `running` for good once the DAG file is gone; the reconciler
    fails it after its grace."""
    workflow_id = submit(alice, {"name": "late-run", "jobs": [wf_job("only", sample_image, "sleep 60")]})
    dag_id = dag_id_for(workflow_id)
    with admin_client(stack) as admin:
        deadline = time.monotonic() + 120
        while admin.get(f"/dags/{dag_id}").status_code != 200:
            assert time.monotonic() < deadline, f"{dag_id} was not parsed"
            time.sleep(0.5)
        assert alice.client.delete(f"/workflows/{workflow_id}").status_code == 200
        late = admin.post(f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
        assert late.status_code == 200, late.text
        run = f"/dags/{dag_id}/dagRuns/{late.json()['dag_run_id']}"
        deadline = time.monotonic() + ENDED_WORKFLOW_RUN_GRACE_SECONDS + 90
        while (state := admin.get(run).json()["state"]) not in ("failed", "success") and time.monotonic() < deadline:
            time.sleep(2)
    assert state == "failed"
    assert describe(alice, workflow_id)["status"] == "deleted"


def test_invalid_workflows_are_refused_with_the_spec_message(alice, sample_image):
    a, b = wf_job("a", sample_image, "true"), wf_job("b", sample_image, "true")
    cases = [
        ({"jobs": [a, a]}, 'all jobs must have unique names: "a" is used more than once'),
        ({"jobs": [a], "dependencies": {"a": ["z"]}}, 'child job "z" is not actually defined'),
        ({"jobs": [a, b], "dependencies": {"a": ["b"], "b": ["a"]}}, "dependencies must not contain cycles"),
        ({"jobs": [a], "policies": {"maximumRetries": 11}}, "the number of retries must be less than 10"),
    ]
    for body, message in cases:
        response = alice.client.post("/workflows", json=body)
        assert (response.status_code, response.json()) == (400, {"error": message})


def test_bob_cannot_see_or_touch_alices_workflow(alice, bob, submitted):
    workflow_id = submitted["diamond"]
    assert bob.client.get(f"/workflows/{workflow_id}").json() == []
    assert workflow_id not in [w["id"] for w in bob.client.get("/workflows", params={"all": "true"}).json()]
    assert bob.client.get("/jobs", params={"workflow": "true", "id": workflow_id, "all": "true"}).json() == []
    for method, path in [("GET", "/workflows/{}/A/stdout"), ("PUT", "/workflows/{}/clone"), ("PUT", "/workflows/{}/remove")]:
        response = bob.client.request(method, path.format(workflow_id))
        assert (response.status_code, response.json()) == (403, {"error": "Not authorized to access this workflow"})
    response = bob.client.delete(f"/workflows/{workflow_id}")
    assert (response.status_code, response.json()) == (400, {"error": "No such workflow(s)"})
    response = bob.client.put(f"/workflows/{workflow_id}")
    assert response.status_code == 400
    response = bob.client.post(f"/workflows/{workflow_id}/advance", json={"job": "A"})
    assert response.status_code == 403


def test_official_cli_runs_lists_describes_and_deletes(stack, sample_image, tmp_path):
    assert CLI.exists(), "run `make cli` first: the official CLI lives in .venv-cli"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PROMINENCE_URL": stack.url, "PROMINENCE_TOKEN": stack.token("carol")}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(CLI), *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)

    spec = tmp_path / "workflow.json"
    spec.write_text(json.dumps({"name": "cliwf", "jobs": [wf_job("hello", sample_image, "echo hello from a workflow")]}))
    created = cli("run", str(spec))
    assert created.returncode == 0, created.stderr
    workflow_id = re.fullmatch(r"Workflow created with id (\d+)\n", created.stdout).group(1)
    for _ in range(300):
        described = cli("describe", "workflow", workflow_id)
        if '"status": "completed"' in described.stdout:
            break
        time.sleep(0.5)
    assert '"status": "completed"' in described.stdout, described.stdout + described.stderr
    listed = cli("list", "workflows", "--all")
    header, row = listed.stdout.splitlines()[:2]
    assert header.split() == ["ID", "NAME", "CREATED", "STATUS", "ELAPSED", "SUCCESS", "FAILED", "TOTAL"]
    assert row.split()[:2] == [workflow_id, "cliwf"] and row.split()[-3:] == ["1", "0", "1"]
    stdout = cli("stdout", workflow_id, "hello")
    assert (stdout.returncode, stdout.stdout) == (0, "hello from a workflow\n\n")
    stderr = cli("stderr", workflow_id, "hello")
    assert (stderr.returncode, stderr.stdout) == (0, "\n")

    spec.write_text(json.dumps({"name": "clislow", "jobs": [wf_job("nap", sample_image, "sleep 300")]}))
    slow = re.fullmatch(r"Workflow created with id (\d+)\n", cli("run", str(spec)).stdout).group(1)
    deleted = cli("delete", "workflow", slow)
    assert (deleted.returncode, deleted.stdout) == (0, "Success\n")
    assert '"status": "deleted"' in cli("describe", "workflow", slow).stdout
