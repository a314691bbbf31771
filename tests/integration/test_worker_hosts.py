"""With PROMINENCE_CELERY_HOSTS=netns (the Celery pass), each Celery worker runs as on a host of
its own: a network namespace whose one link to the machine carries every service it uses, and
folders of its own for image caches, uid pool and task logs. What a user sees of a job must not
change: it stages in, runs, uploads its outputs, uses its token, is stopped by a delete and by
its walltime, and its task log is in the Airflow UI while it runs."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.api import job
from tests.integration.test_job_execution import sleeping
from tests.integration.test_kv import in_container
from tests.integration.test_stack import admin_client

pytestmark = [
    pytest.mark.celery,
    pytest.mark.skipif(os.environ.get("PROMINENCE_CELERY_HOSTS") != "netns", reason="needs PROMINENCE_CELERY_HOSTS=netns"),
]
CONNECT = "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=3); print('connected')"


def workers(stack) -> dict[str, int]:
    """Each worker's name and pid, as `stack.py status` shows them."""
    status = stack.stack_py("status")
    fields = [line.split() for line in status.stdout.splitlines()]
    return {f[0]: int(f[3]) for f in fields if f[0].startswith("worker-") and f[1:3] == ["running", "pid"]}


def interfaces(pid: int) -> set[str]:
    lines = Path(f"/proc/{pid}/net/dev").read_text().splitlines()[2:]
    return {line.split(":", 1)[0].strip() for line in lines}


def connect_from(pid: int, port: int) -> subprocess.CompletedProcess:
    """A TCP connection to the loopback port `port` from the network namespace of `pid`."""
    argv = ["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-c", CONNECT, str(port)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


def own_home(stack, site: str) -> Path:
    """The stack's home as the worker named in `site` sees it."""
    return stack.home / "hosts" / site.split("@")[0] / "home"


def test_each_worker_has_a_network_namespace_of_its_own_with_one_link(stack):
    pids = workers(stack)
    assert len(pids) == int(stack.env["PROMINENCE_CELERY_WORKERS"])
    namespaces = {os.readlink(f"/proc/{pid}/ns/net") for pid in pids.values()}
    assert len(namespaces) == len(pids) and os.readlink("/proc/self/ns/net") not in namespaces
    for pid in pids.values():
        assert len(interfaces(pid) - {"lo"}) == 1, interfaces(pid)


def test_a_worker_sees_of_the_stacks_home_only_the_shared_folders(stack):
    """Its home is its own: the job area and the workflow DAGs are there, the machine's secrets,
    S3 data, registry data and supervisord's socket are not."""
    for name, pid in workers(stack).items():
        seen = subprocess.run(
            ["nsenter", f"--mount=/proc/{pid}/ns/mnt", "ls", "-A", str(stack.home)], capture_output=True, text=True, check=True
        ).stdout.split()
        assert {"sandboxes", "workflows"} <= set(seen) and not {"secrets.env", "s3", "registry", "logs"} & set(seen), seen
        listed = subprocess.run(
            ["nsenter", f"--mount=/proc/{pid}/ns/mnt", "ls", str(stack.home / "sandboxes")], capture_output=True, text=True
        )
        assert listed.returncode == 0 and set(listed.stdout.split()) == set(os.listdir(stack.home / "sandboxes")), name


def test_the_machines_loopback_is_reached_only_where_a_link_carries_it(stack):
    """The API's port reaches the api-server through the link; another loopback port of the
    machine, here one this test listens on, is not there at all for a worker."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        for pid in workers(stack).values():
            assert connect_from(pid, int(stack.env["PROMINENCE_PORT"])).stdout.strip() == "connected"
            refused = connect_from(pid, port)
            assert refused.returncode != 0 and "connected" not in refused.stdout


def test_a_job_on_a_worker_host_stages_in_runs_uploads_and_calls_the_api(stack, alice, sample_image):
    script = (
        'cat in.txt > out.txt; printf "from the job" > value; '
        'wget -q -O- --header "$auth" --post-file value "$PROMINENCE_URL/kv/hosts/value"'
    )
    body = job(
        sample_image,
        in_container(script),
        inputs=[{"filename": "in.txt", "content": base64.b64encode(b"input data\n").decode()}],
        outputFiles=["out.txt"],
    )
    job_id = alice.submit(body)
    described = alice.wait(job_id, timeout=240)
    assert (described["status"], described.get("statusReason")) == ("completed", None), alice.stdout(job_id, "stderr")
    [out] = described["outputFiles"]
    assert httpx.get(out["url"], timeout=30).content == b"input data\n"
    assert alice.client.get("/kv/hosts/value").text == "from the job"

    own = own_home(stack, described["execution"]["site"])
    assert list((own / "image-cache" / "singularity").iterdir()), "the image is cached on the worker that ran the job"
    assert not list((stack.home / "image-cache").glob("*/*"))
    logs = f"dag_id=prominence_job/run_id=job-{job_id}"
    assert (own / "airflow" / "logs" / logs).is_dir() and not (stack.home / "airflow" / "logs" / logs).exists()


def test_a_running_jobs_task_log_is_read_from_its_worker(stack, alice, sample_image):
    job_id = alice.submit(job(sample_image, "sh -c 'echo started on its host; sleep 30'"))
    alice.wait(job_id, states=("running",), timeout=240)
    path = f"/dags/prominence_job/dagRuns/job-{job_id}/taskInstances/task/logs/1"
    lines: list[str] = []
    deadline = time.monotonic() + 60
    with admin_client(stack) as client:
        while "[stdout] started on its host" not in lines and time.monotonic() < deadline:
            response = client.get(path, params={"map_index": 0}, headers={"Accept": "application/json"})
            if response.status_code == 200:
                lines = [entry.get("event", "") for entry in response.json()["content"] if isinstance(entry, dict)]
            time.sleep(1)
    assert "[stdout] started on its host" in lines, lines
    assert alice.describe(job_id)["status"] == "running"
    assert alice.client.delete(f"/jobs/{job_id}").status_code == 200


def test_a_delete_stops_the_container_on_its_worker_and_walltime_ends_a_job(alice, sample_image):
    deleted = alice.submit(job(sample_image, "sleep 4321"))
    timed = job(sample_image, "sleep 600")
    timed["resources"]["walltime"] = 1
    overrun = alice.submit(timed)
    alice.wait(deleted, states=("running",), timeout=240)
    deadline = time.monotonic() + 30
    while not sleeping(4321) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sleeping(4321)
    assert alice.client.delete(f"/jobs/{deleted}").status_code == 200
    deadline = time.monotonic() + 30
    while sleeping(4321) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not sleeping(4321)
    described = alice.wait(overrun, timeout=240)
    assert (described["status"], described["statusReason"]) == ("killed", "Walltime limit exceeded")
