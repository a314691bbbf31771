"""The kubernetes runtime: the pod it describes, field by field, and a task's run against kmock,
a Kubernetes API server in memory (create, follow output, wait, delete; no kubelet, so the test
plays it by setting the pod's status)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pytest
from kmock import action, subresource
from kubernetes import client as kube

from prominence.config import get_settings
from prominence.runtimes import get_runtime
from prominence.runtimes.kubernetes import KubernetesRuntime, PodRun, build_pod, label_value
from prominence.runtimes.spec import PreparedRun, RunSpec

TOKEN = jwt.encode({"username": "alice@example.org", "groups": "", "job": "u"}, "k", algorithm="HS256")
NAMESPACE = "prominence"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("PROMINENCE_HOME", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def spec(home: Path, stdout: Path | None = None, command=("sh", "-c", "echo hi"), binds=()) -> RunSpec:
    sandbox = home / "sandboxes" / "0f1e2d3c"
    return RunSpec(
        image=PreparedRun(runtime="kubernetes", image="busybox:1.36", target="busybox:1.36"),
        command=command,
        env={
            "FOO": "bar",
            "HOME": "/elsewhere",
            "PROMINENCE_JOB_ID": "42",
            "PROMINENCE_TASK_NUM": "1",
            "PROMINENCE_TOKEN": TOKEN,
        },
        workdir="/home/user/sub",
        home=sandbox / "userhome",
        tmp=sandbox / "usertmp",
        stdout=stdout or sandbox / "logs" / "stdout",
        stderr=sandbox / "logs" / "stderr",
        usage=sandbox / "json" / "usage-1",
        walltime_seconds=90.2,
        binds=binds,
        cpus=2,
        memory_mb=4000,
        disk_gb=10,
    )


def test_the_pod_runs_the_task_with_its_resources_walltime_and_identity(home):
    pod = build_pod(spec(home), "prominence-42-1-7", secret="prominence-42-1-7-token")
    assert (pod.metadata.name, pod.metadata.namespace) == ("prominence-42-1-7", NAMESPACE)
    assert pod.metadata.labels == {
        "prominence.io/user": "alice_example.org",
        "prominence.io/job-id": "42",
        "prominence.io/job-uuid": "0f1e2d3c",
        "prominence.io/task": "1",
    }
    assert pod.metadata.annotations == {"prominence.io/user": "alice@example.org"}
    assert pod.spec.restart_policy == "Never"
    assert pod.spec.active_deadline_seconds == 91
    assert pod.spec.automount_service_account_token is False
    (container,) = pod.spec.containers
    assert (container.image, container.command, container.working_dir) == (
        "busybox:1.36",
        ["sh", "-c", "echo hi"],
        "/home/user/sub",
    )
    expected = {"cpu": "2", "memory": "4000M", "ephemeral-storage": "10G"}
    assert (container.resources.requests, container.resources.limits) == (expected, expected)
    assert container.security_context.run_as_non_root is True
    assert container.security_context.run_as_user == 1000
    assert container.security_context.allow_privilege_escalation is False


def test_the_container_sees_the_task_env_with_the_runtime_own_and_the_token_from_its_secret(home):
    (container,) = build_pod(spec(home), "p", secret="p-token").spec.containers
    env = {e.name: e for e in container.env}
    assert (env["FOO"].value, env["HOME"].value, env["TMPDIR"].value) == ("bar", "/home/user", "/tmp")
    assert env["PROMINENCE_CONTAINER_RUNTIME"].value == "kubernetes"
    assert env["PROMINENCE_TOKEN"].value is None
    assert (env["PROMINENCE_TOKEN"].value_from.secret_key_ref.name, env["PROMINENCE_TOKEN"].value_from.secret_key_ref.key) == (
        "p-token",
        "token",
    )
    assert TOKEN not in str(build_pod(spec(home), "p", secret="p-token").to_dict())


def test_the_job_area_is_the_shared_claim_by_sub_path_and_the_token_a_secret_volume(home):
    artifacts = home / "sandboxes" / "0f1e2d3c" / "userhome" / "data"
    pod = build_pod(spec(home, binds=((str(artifacts), "/data"),)), "p", secret="p-token")
    volumes = {v.name: v for v in pod.spec.volumes}
    assert volumes["workarea"].persistent_volume_claim.claim_name == "prominence-sandboxes"
    assert (volumes["token"].secret.secret_name, volumes["token"].secret.default_mode) == ("p-token", 0o400)
    mounts = [(m.name, m.mount_path, m.sub_path, bool(m.read_only)) for m in pod.spec.containers[0].volume_mounts]
    assert mounts == [
        ("workarea", "/home/user", "0f1e2d3c/userhome", False),
        ("workarea", "/tmp", "0f1e2d3c/usertmp", False),
        ("token", "/var/run/secrets/prominence", None, True),
        ("workarea", "/data", "0f1e2d3c/userhome/data", True),
    ]


def test_an_image_default_command_is_not_overridden(home):
    assert build_pod(spec(home, command=None), "p", secret="s").spec.containers[0].command is None


@pytest.mark.parametrize(
    "value, label", [("alice", "alice"), ("a@b.c", "a_b.c"), ("-x-", "x"), ("", "none"), ("x" * 70, "x" * 63)]
)
def test_label_values_are_valid_kubernetes_labels(value, label):
    assert label_value(value) == label


def test_prominence_runtime_sends_every_task_to_kubernetes(home, monkeypatch):
    monkeypatch.setenv("PROMINENCE_RUNTIME", "kubernetes")
    get_settings.cache_clear()
    get_runtime.cache_clear()
    try:
        assert isinstance(get_runtime("singularity"), KubernetesRuntime)
    finally:
        get_runtime.cache_clear()


def api_for(url) -> kube.CoreV1Api:
    configuration = kube.Configuration()
    configuration.host = str(url).rstrip("/")
    return kube.CoreV1Api(kube.ApiClient(configuration))


async def kubelet(kmock, exit_code: int, reason: str | None = None) -> str:
    """Wait for the pod, start it, then end it with `exit_code` (or as the deadline ends it)."""
    while not (created := [request.data for request in kmock[action.CREATE] if request.data.get("kind") == "Pod"]):
        await asyncio.sleep(0.05)
    pod = created[0]
    key = ("v1/pods", pod["metadata"]["namespace"], pod["metadata"]["name"])
    now = datetime.now(UTC).isoformat()

    def status(phase: str, state: dict, reason: str | None = None) -> dict:
        container = {"name": "task", "image": "busybox:1.36", "imageID": "", "ready": False, "restartCount": 0, "state": state}
        return pod | {"status": {"phase": phase, "reason": reason, "containerStatuses": [container]}}

    kmock.objects[key] = status("Running", {"running": {"startedAt": now}})
    await asyncio.sleep(0.5)
    if reason is None:
        ended = {"terminated": {"exitCode": exit_code, "startedAt": now, "finishedAt": datetime.now(UTC).isoformat()}}
        kmock.objects[key] = status("Failed" if exit_code else "Succeeded", ended)
    else:
        kmock.objects[key] = status("Failed", {}, reason)
    return key[2]


@pytest.mark.asyncio
async def test_a_run_creates_the_pod_and_its_secret_streams_output_and_deletes_both(kmock, home):
    kmock[subresource("log")] << b"hello\nworld\n"
    stdout = home / "stdout"
    runtime = KubernetesRuntime(api=api_for(kmock.url))
    run = PodRun(runtime, spec(home, stdout=stdout))
    played = asyncio.create_task(kubelet(kmock, exit_code=3))
    result = await asyncio.to_thread(run.run)
    name = await played
    assert (result.exit_code, result.timed_out) == (3, False)
    assert stdout.read_bytes() == b"hello\nworld\n"
    created = [request.data for request in kmock[action.CREATE]]
    assert [body["kind"] for body in created] == ["Secret", "Pod"]
    assert created[0]["stringData"] == {"token": TOKEN}
    assert created[1]["metadata"]["name"] == name
    deleted = {(str(request.resource), request.name) for request in kmock[action.DELETE]}
    assert {name, f"{name}-token"} == {item for _, item in deleted}


@pytest.mark.asyncio
async def test_a_pod_past_its_deadline_is_a_timed_out_run(kmock, home):
    kmock[subresource("log")] << b""
    run = PodRun(KubernetesRuntime(api=api_for(kmock.url)), spec(home, stdout=home / "stdout"))
    played = asyncio.create_task(kubelet(kmock, exit_code=0, reason="DeadlineExceeded"))
    result = await asyncio.to_thread(run.run)
    await played
    assert (result.exit_code, result.timed_out) == (-9, True)


@pytest.mark.asyncio
async def test_killing_the_run_deletes_its_pod(kmock, home):
    """What a deleted job (or a stopped task) does: the pod goes, and the run ends as killed."""
    kmock[subresource("log")] << b"started\n"
    run = PodRun(KubernetesRuntime(api=api_for(kmock.url)), spec(home, stdout=home / "stdout"))
    running = asyncio.create_task(asyncio.to_thread(run.run))
    while not [r for r in kmock[action.CREATE] if r.data.get("kind") == "Pod"]:
        await asyncio.sleep(0.05)
    pod = [r.data for r in kmock[action.CREATE] if r.data.get("kind") == "Pod"][0]
    started = {"name": "task", "image": "busybox:1.36", "imageID": "", "ready": True, "restartCount": 0,
               "state": {"running": {"startedAt": datetime.now(UTC).isoformat()}}}  # fmt: skip
    kmock.objects["v1/pods", NAMESPACE, run.name] = pod | {"status": {"phase": "Running", "containerStatuses": [started]}}
    await asyncio.sleep(0.5)
    run.kill()
    while not [r for r in kmock[action.DELETE] if r.name == run.name]:
        await asyncio.sleep(0.05)
    del kmock.objects["v1/pods", NAMESPACE, run.name]
    result = await asyncio.wait_for(running, 60)
    assert (result.exit_code, result.timed_out) == (-9, False)


@pytest.mark.asyncio
async def test_the_runtime_version_is_the_cluster_one(kmock):
    kmock["get /version/"] << {
        "major": "1",
        "minor": "31",
        "gitVersion": "v1.31.2",
        "gitCommit": "x",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.22",
        "compiler": "gc",
        "platform": "linux/amd64",
    }
    runtime = KubernetesRuntime(api=api_for(kmock.url))
    assert await asyncio.to_thread(runtime.version) == "kubernetes v1.31.2"
