"""MPI and sidecar tasks run for real (spec §3.3, §13.6): mpirun in the container on one node."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.api import Api, job

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def patient_alice(stack):
    """alice with a longer HTTP timeout: converting the MPI image to a SIF keeps a loaded
    2-core machine so busy that the API took over 30 s to answer here."""
    api = Api(stack.url, stack.token("alice"))
    api.client.timeout = 120
    return api


@pytest.fixture(scope="module")
def mpi_image(stack):
    """The MPI test image of a flavour, built from this host's Debian packages (once per machine,
    scripts/mpi_image.py) and pushed to the stack's registry."""
    refs: dict[str, str] = {}

    def image(flavour: str) -> str:
        if flavour not in refs:
            script = str(REPO / "scripts" / "mpi_image.py")
            built = subprocess.run(
                [sys.executable, script, flavour, stack.env["PROMINENCE_REGISTRY"]], capture_output=True, text=True, timeout=600
            )
            assert built.returncode == 0, built.stderr
            refs[flavour] = built.stdout.splitlines()[-1]
        return refs[flavour]

    return image


@pytest.mark.parametrize(("flavour", "runtime"), [("openmpi", "singularity"), ("openmpi", "udocker"), ("mpich", "udocker")])
def test_mpi_hello_world_reports_two_ranks(patient_alice, mpi_image, flavour, runtime):
    body = job(mpi_image(flavour), "mpi-hello", runtime=runtime, resources={"cpus": 2, "memory": 1})
    body["tasks"][0].update(type=flavour, procsPerNode=2)
    job_id = patient_alice.submit(body)
    described = patient_alice.wait(job_id, timeout=300)
    assert described["status"] == "completed", described
    assert described["execution"]["tasks"][0]["exitCode"] == 0, patient_alice.stdout(job_id, "stderr")
    lines = sorted(patient_alice.stdout(job_id).splitlines())
    assert lines == [f"hello from rank {r} of 2 (OMP_NUM_THREADS=1)" for r in (0, 1)]


def test_a_sidecar_runs_beside_the_task_and_stops_when_it_ends(alice, sample_image):
    body = job(sample_image, "sh -c 'sleep 3; cat side.txt; echo main done'")
    body["tasks"].insert(
        0,
        {
            "image": sample_image,
            "runtime": "singularity",
            "type": "sidecar",
            "cmd": "sh -c 'echo side up > side.txt; echo sidecar up; sleep 600'",
        },
    )
    job_id = alice.submit(body)
    described = alice.wait(job_id, timeout=120)
    assert described["status"] == "completed", described
    assert [task["exitCode"] for task in described["execution"]["tasks"]] == [0]
    assert alice.stdout(job_id) == "sidecar up\nside up\nmain done\n"


# A sidecar serving on the job's loopback, and a task that fetches from it (10 tries, 1 s apart).
SERVE = "sh -c 'mkdir -p www; echo side-ok > www/index.html; httpd -f -p 127.0.0.1:8099 -h www'"
FETCH = "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://127.0.0.1:8099/ && {then}; sleep 1; done; exit 1"


def _served(image: str, runtime: str, then: str = "exit 0") -> dict:
    body = job(image, f"sh -c '{FETCH.format(then=then)}'", runtime)
    body["tasks"].insert(0, {"image": image, "runtime": runtime, "type": "sidecar", "cmd": SERVE})
    return body


@pytest.mark.parametrize("runtime", ["singularity", "udocker"])
def test_a_task_reaches_what_its_sidecar_serves_on_localhost(alice, sample_image, runtime):
    job_id = alice.submit(_served(sample_image, runtime))
    described = alice.wait(job_id, timeout=180)
    assert described["status"] == "completed", (described, alice.stdout(job_id, "stderr"))
    assert [task["exitCode"] for task in described["execution"]["tasks"]] == [0]
    assert alice.stdout(job_id) == "side-ok\n"


def test_another_job_cannot_reach_what_a_sidecar_serves(alice, bob, sample_image):
    serving = alice.submit(_served(sample_image, "singularity", then="exec sleep 300"))
    try:
        deadline = time.monotonic() + 120
        while alice.stdout(serving) != "side-ok\n":
            assert time.monotonic() < deadline, alice.describe(serving)
            time.sleep(0.5)
        other = bob.submit(job(sample_image, f"sh -c '{FETCH.format(then='exit 0')}'"))
        described = bob.wait(other, timeout=180)
        assert described["execution"]["tasks"][0]["exitCode"] == 1, described  # a task's exit code fails no job
        assert bob.stdout(other) == ""
        assert alice.describe(serving)["status"] == "running", "the sidecar served all along"
    finally:
        alice.client.delete(f"/jobs/{serving}")
