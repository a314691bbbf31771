"""Workflow releases under races: concurrent `advance` calls release each instance once, also
while the api-server releases the same jobs because their parent just ended, and a delete while
members are being released leaves none of them running."""

from __future__ import annotations

import threading
import time

import httpx

from prominence.contract.states import TERMINAL
from tests.integration.faults.helpers import report
from tests.integration.test_workflows import describe, jobs_of, submit, wait, wf_job

SIZE = 12


def sweep(image: str, name: str, cmd: str, size: int = SIZE) -> dict:
    return {
        "name": name,
        "jobs": [wf_job("member", image, cmd)],
        "factories": [{"name": "n", "type": "repeat", "jobs": ["member"], "num": size}],
    }


def workflow_token(stack, workflow_id: int) -> str:
    return stack.home.joinpath("sandboxes", f"workflow-{workflow_id}", "token").read_text()


def advance_concurrently(stack, workflow_id: int, callers: int = 8, rounds: int = 3) -> list[int]:
    """`callers` threads calling the node's advance at once, `rounds` times each: the codes."""
    codes: list[int] = []
    barrier = threading.Barrier(callers)
    headers = {"Authorization": f"Bearer {workflow_token(stack, workflow_id)}"}

    def call() -> None:
        with httpx.Client(base_url=stack.url, headers=headers, timeout=60) as client:
            for _ in range(rounds):
                barrier.wait()
                codes.append(client.post(f"/workflows/{workflow_id}/advance", json={"job": "member", "try": 1}).status_code)

    threads = [threading.Thread(target=call) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes


def test_concurrent_advances_release_each_instance_once(stack, alice, sample_image):
    workflow_id = submit(alice, sweep(sample_image, "raced", "echo raced"))
    deadline = time.monotonic() + 60
    while not stack.home.joinpath("sandboxes", f"workflow-{workflow_id}", "token").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    codes = advance_concurrently(stack, workflow_id)
    workflow = wait(alice, workflow_id, timeout=240)
    members = [member for found in jobs_of(alice, workflow_id).values() for member in found]
    report("concurrent advance", calls=len(codes), members=len(members))
    assert set(codes) == {200}
    assert workflow["status"] == "completed", workflow
    assert len(members) == SIZE, sorted(member["name"] for member in members)
    assert len({member["name"] for member in members}) == SIZE
    assert {member["name"]: alice.stdout(member["id"]).split().count("raced") for member in members} == {
        member["name"]: 1 for member in members
    }


def test_advances_racing_the_release_on_a_parent_end_release_each_instance_once(stack, alice, sample_image):
    body = sweep(sample_image, "chased", "echo chased")
    body["jobs"].insert(0, wf_job("parent", sample_image, "true"))
    body["dependencies"] = {"parent": ["member"]}
    workflow_id = submit(alice, body)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        parent = jobs_of(alice, workflow_id).get("chased/parent")
        if parent and parent[0]["status"] in TERMINAL:
            break
        time.sleep(0.05)
    codes = advance_concurrently(stack, workflow_id)
    workflow = wait(alice, workflow_id, timeout=240)
    members = [member for name, found in jobs_of(alice, workflow_id).items() if name != "chased/parent" for member in found]
    report("advance racing the release on a parent's end", calls=len(codes), members=len(members))
    assert set(codes) == {200}
    assert workflow["status"] == "completed", workflow
    assert len(members) == SIZE, sorted(member["name"] for member in members)
    assert len({member["name"] for member in members}) == SIZE
    assert {member["name"]: alice.stdout(member["id"]).split().count("chased") for member in members} == {
        member["name"]: 1 for member in members
    }


def test_delete_during_release_stops_every_member(stack, alice, sample_image):
    workflow_id = submit(alice, sweep(sample_image, "doomed", "sleep 120", size=40))
    deadline = time.monotonic() + 90
    while not jobs_of(alice, workflow_id) and time.monotonic() < deadline:
        time.sleep(0.2)
    racing = threading.Thread(target=advance_concurrently, args=(stack, workflow_id, 4, 2))
    racing.start()
    deleted_at = time.monotonic()
    assert alice.client.delete(f"/workflows/{workflow_id}").status_code == 200
    racing.join()
    time.sleep(5)  # anything a release stored meanwhile would have been dispatched by now
    members = [member for found in jobs_of(alice, workflow_id).values() for member in found]
    deadline = time.monotonic() + 60
    while any(alice.describe(member["id"])["status"] not in TERMINAL for member in members) and time.monotonic() < deadline:
        time.sleep(0.5)
    statuses = {member["id"]: alice.describe(member["id"])["status"] for member in members}
    report("delete during release", members=len(members), stopped_after_s=time.monotonic() - deleted_at)
    assert describe(alice, workflow_id)["status"] == "deleted"
    assert members and set(statuses.values()) == {"deleted"}, statuses
