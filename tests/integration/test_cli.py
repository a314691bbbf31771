"""The official CLI (prominence 0.21.0 from PyPI, unmodified) against the stack."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

CLI = Path(__file__).resolve().parents[2] / ".venv-cli" / "bin" / "prominence"


@pytest.fixture(scope="module")
def cli(stack, tmp_path_factory):
    assert CLI.exists(), "run `make cli` first: the official CLI lives in .venv-cli"
    workdir = tmp_path_factory.mktemp("cli")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "PROMINENCE_URL": stack.url, "PROMINENCE_TOKEN": stack.token("carol")}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(CLI), *args], env=env, cwd=workdir, capture_output=True, text=True, timeout=120)

    return run


def wait_status(cli, job_id: str, wanted: str) -> str:

    for _ in range(300):
        described = cli("describe", job_id)
        status = re.search(r'"status": "(\w+)"', described.stdout)
        if status and status.group(1) == wanted:
            return described.stdout
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} never reached {wanted}: {described.stdout}{described.stderr}")


def test_create_list_describe_stdout(cli, sample_image):
    created = cli("create", "--name", "clijob", "--memory", "1", sample_image, "echo hello from the cli")
    assert created.returncode == 0, created.stderr
    job_id = re.fullmatch(r"Job created with id (\d+)\n", created.stdout).group(1)

    described = wait_status(cli, job_id, "completed")
    assert '"name": "clijob"' in described and '"exitCode": 0' in described

    listed = cli("list", "--completed")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()[:2]
    assert header.split() == ["ID", "NAME", "CREATED", "STATUS", "ELAPSED", "IMAGE", "CMD"]
    assert row.split()[:2] == [job_id, "clijob"] and "completed" in row and "echo hello from the cli" in row

    stdout = cli("stdout", job_id)
    assert (stdout.returncode, stdout.stdout) == (0, "hello from the cli\n\n")


def test_delete_a_running_job(cli, sample_image):
    created = cli("create", sample_image, "sleep 300")
    job_id = re.fullmatch(r"Job created with id (\d+)\n", created.stdout).group(1)
    wait_status(cli, job_id, "running")
    assert "running" in cli("list").stdout
    deleted = cli("delete", job_id)
    assert (deleted.returncode, deleted.stdout) == (0, "Success\n")
    assert '"statusReason": "Job deleted by user"' in wait_status(cli, job_id, "deleted")
    again = cli("delete", job_id)
    assert (again.returncode, again.stdout.strip()) == (1, "Error: No such job(s)")


def test_errors_are_printed_as_the_servers_message(cli, sample_image):
    bad = cli("create", "--cpus", "-1", sample_image, "true")
    assert (bad.returncode, bad.stdout.strip()) == (1, "Error: number of cpus must be an integer")
    missing = cli("describe", "999999")
    assert (missing.returncode, missing.stdout.strip()) == (1, "Error: No such job")


def test_retries_rerun_a_failing_job(cli, sample_image):
    registry = sample_image.split("/")[0]
    created = cli("create", "--retries", "1", f"{registry}/prominence/missing:latest", "true")
    assert created.returncode == 0, created.stderr
    job_id = re.fullmatch(r"Job created with id (\d+)\n", created.stdout).group(1)
    described = wait_status(cli, job_id, "failed")
    # The CLI prints execution's spec fields only (`retries`, not `attempts`).
    assert '"maximumRetries": 1' in described and '"retries": 1' in described
