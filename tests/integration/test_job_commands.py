"""`exec`, `snapshot`, `usage` and `resources` (spec §6.8, §6.9, §12) through the REST API and the
official CLI 0.21.0, on one job of the shared stack: it writes files, then waits until a command
run with `exec` (as its own uid) tells it to end."""

from __future__ import annotations

import subprocess
import tarfile
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.api import Api, job

CLI = Path(__file__).resolve().parents[2] / ".venv-cli" / "bin" / "prominence"
WAITING = "sh -c 'echo data > written.txt; mkdir out; echo snap > out/f.txt; while [ ! -e stop ]; do sleep 0.2; done'"


@pytest.fixture(scope="module")
def dora(stack):
    """A user of her own, so her usage counts her jobs only."""
    return Api(stack.url, stack.token("dora", groups="physics"))


@pytest.fixture(scope="module")
def cli(stack, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("cli-commands")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(workdir),
        "PROMINENCE_URL": stack.url,
        "PROMINENCE_TOKEN": stack.token("dora", "physics"),
    }

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(CLI), *args], env=env, cwd=workdir, capture_output=True, text=True, timeout=120)

    run.workdir = workdir
    return run


@pytest.fixture(scope="module")
def waiting_job(dora, sample_image):
    """Dora's job, running: its container has started once `exec` answers (spec: running only)."""
    job_id = dora.submit(job(sample_image, WAITING))
    deadline = time.monotonic() + 180
    while True:
        try:
            answer = dora.client.post(f"/jobs/{job_id}/exec", params={"command": "test,-e,out/f.txt"})
        except httpx.TimeoutException:
            # Seen once per run on a loaded machine: the api-server answered nothing for over 30 s
            # around the job's first task start; the poll goes on until the deadline.
            continue
        if answer.status_code == 200 or time.monotonic() > deadline:
            assert answer.status_code == 200, answer.text
            yield job_id
            dora.client.delete(f"/jobs/{job_id}")
            return
        # Not started yet, or started but the files not written yet.
        assert answer.json()["error"] in ("Job is not running", "Unable to execute command"), answer.text
        time.sleep(0.3)


def test_exec_lists_the_jobs_home_as_the_jobs_own_uid(cli, dora, bob, waiting_job):
    listed = cli("exec", str(waiting_job), "ls")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert {"written.txt", "out"} <= set(listed.stdout.split())
    uid = cli("exec", str(waiting_job), "id -u")
    assert uid.returncode == 0 and 200000 < int(uid.stdout) <= 265535, uid.stdout
    # The job's namespaces: no process of the host, and nothing the job's uid may not read.
    processes = cli("exec", str(waiting_job), "ps -ef").stdout
    assert "stop" in processes and "airflow" not in processes, processes
    refused = cli("exec", str(waiting_job), "cat /etc/shadow")
    assert refused.stdout.strip() == "Error: Unable to execute command: Unable to execute command"
    commands = [entry["command"] for entry in dora.describe(waiting_job)["execution"]["commands"]]
    assert commands[-3:] == ["ls", "id -u", "ps -ef"]
    answer = bob.client.post(f"/jobs/{waiting_job}/exec", params={"command": "ls"})
    assert (answer.status_code, answer.json()) == (403, {"error": "Not authorized to access this job"})


def test_exec_output_is_cut_and_a_command_past_its_time_stopped(dora, waiting_job):
    endless = dora.client.post(f"/jobs/{waiting_job}/exec", params={"command": "yes"})
    marker = b"\n[output cut at 1048576 bytes]\n"
    assert endless.status_code == 200 and endless.content.endswith(marker), endless.content[-80:]
    assert endless.content[: -len(marker)] == b"y\n" * (1048576 // 2)
    slow = dora.client.post(f"/jobs/{waiting_job}/exec", params={"command": "sleep,60"}, timeout=60)
    assert (slow.status_code, slow.json()) == (400, {"error": "Unable to execute command"})
    left = dora.client.post(f"/jobs/{waiting_job}/exec", params={"command": "ps,-eo,args"}).text.splitlines()
    assert not {"yes", "sleep 60"} & {line.strip() for line in left}, left


def test_snapshot_downloads_a_tarball_of_a_path_in_the_job(cli, dora, bob, waiting_job):
    made = cli("snapshot", str(waiting_job), "out")
    assert made.returncode == 0, made.stdout + made.stderr
    with tarfile.open(cli.workdir / "snapshot.tgz") as tarball:
        assert tarball.extractfile("out/f.txt").read() == b"snap\n"
    for path in ("../..", "out/../../..", "/etc"):
        answer = dora.client.put(f"/jobs/{waiting_job}/snapshot", params={"path": path})
        assert (answer.status_code, answer.json()) == (400, {"error": "Invalid path"}), path
    answer = bob.client.put(f"/jobs/{waiting_job}/snapshot", params={"path": "out"})
    assert (answer.status_code, answer.json()) == (403, {"error": "Not authorized to access this job"})


def test_a_finished_job_is_refused_and_counted_in_usage(cli, dora, waiting_job):
    assert cli("exec", str(waiting_job), "touch stop").returncode == 0
    assert dora.wait(waiting_job)["status"] == "completed"
    ended = cli("exec", str(waiting_job), "ls")
    assert (ended.returncode, ended.stdout.strip()) == (1, "Error: Unable to execute command: Job is not running")
    assert dora.client.get(f"/jobs/{waiting_job}/snapshot").json() == {"error": "Job is not running"}
    today = time.strftime("%Y-%m-%d", time.gmtime())
    usage = dora.client.get("/accounting", params={"start": today, "end": today}).json()["usage"]
    assert usage["users"]["dora"]["numberOfJobs"] == 1 and usage["users"]["dora"]["wallTime"] > 0
    year = today[:4]
    printed = cli("usage", f"{year}-01-01", f"{year}-12-31")
    assert printed.returncode == 0 and "dora" in printed.stdout and "Number of jobs             1" in printed.stdout
    grouped = cli("usage", "--group", f"{year}-01-01", f"{year}-12-31")
    assert grouped.stdout.split()[:5] == ["physics", "Number", "of", "jobs", "1"], grouped.stdout


def test_resources_prints_the_pools_totals(cli, stack):
    printed = cli("resources")
    assert printed.returncode == 0, printed.stdout + printed.stderr
    cpus = stack.env["PROMINENCE_WORKER_CPUS"]
    assert any(line.split()[:1] == [cpus] and len(line.split()) == 5 for line in printed.stdout.splitlines()), printed.stdout
