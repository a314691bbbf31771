"""Jobs attack the stack as untrusted code would, with both runtimes, on the real stack: none of
them reaches the stack's secrets, another job's processes or files, or a loopback service but
the API; no token shows on the host's command lines or in the task logs."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path

import pytest

from tests.integration.api import job

RUNTIMES = ["singularity", "udocker"]


def _stack_secrets(stack) -> dict[str, str]:
    values = dict(line.split("=", 1) for line in (stack.home / "secrets.env").read_text().splitlines() if "=" in line)
    return {key: value for key, value in values.items() if len(value) >= 12}


def _run(api, image: str, script: str, runtime: str, **extra) -> tuple[dict, str]:
    job_id = api.submit(job(image, f"sh -c '{script}'", runtime, **extra))
    described = api.wait(job_id, timeout=180)
    return described, api.stdout(job_id)


def _tokens(stack) -> set[str]:
    """Every job token the stack has handed out so far (root reads the sandboxes)."""
    return {path.read_text() for path in (stack.home / "sandboxes").glob("*/token") if path.read_text()}


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_job_cannot_read_the_stacks_secrets_or_databases(stack, alice, sample_image, runtime):
    home = stack.home
    targets = [home / "secrets.env", home / "airflow" / "airflow.db", home / "run" / "supervisord.conf", home / "stack.json"]
    paths = " ".join(f"{prefix}{target}" for target in targets for prefix in ("", "/proc/1/root", "/proc/*/root"))
    script = (
        f"for f in {paths}; do head -c 1 $f >/dev/null 2>&1 && echo READ $f; done; "
        f"ls /proc/*/root{home}/sandboxes >/dev/null 2>&1 && echo LISTED sandboxes; echo done"
    )
    described, out = _run(alice, sample_image, script, runtime)
    assert described["status"] == "completed", described
    assert out.strip() == "done"


@pytest.fixture(scope="module")
def running_victim(stack, alice, sample_image):
    """alice's job, running, with a marker in its environment and a file in its home."""
    marker = f"victim-{secrets.token_hex(6)}"
    body = job(sample_image, "sh -c 'echo x > mine; sleep 60'", "singularity")
    body["tasks"][0]["env"] = {"VICTIM_MARKER": marker}
    job_id = alice.submit(body)
    alice.wait(job_id, states=("running",))
    deadline = time.monotonic() + 30
    sandbox = None
    while sandbox is None and time.monotonic() < deadline:
        sandbox = next((p.parent.parent for p in (stack.home / "sandboxes").glob("*/userhome/mine")), None)
        time.sleep(0.2)
    assert sandbox is not None, "the victim never wrote its file"
    yield marker, sandbox
    alice.client.delete(f"/jobs/{job_id}")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_job_sees_neither_another_jobs_processes_nor_its_files(bob, sample_image, running_victim, runtime):
    marker, sandbox = running_victim
    # The pattern does not match itself: the script is in the environment apptainer's init keeps.
    pattern = f"{marker[:-1]}[{marker[-1]}]"
    script = (
        f'cat /proc/[0-9]*/environ 2>/dev/null | tr "\\000" "\\n" | grep -c {pattern}; '
        f"for p in /proc/[0-9]*/root; do head -c 1 $p{sandbox}/userhome/mine >/dev/null 2>&1 && echo READ $p; done; "
        f"head -c 1 {sandbox}/userhome/mine >/dev/null 2>&1 && echo READ direct; "
        "ps -o user | sort -u | grep -c root"
    )
    described, out = _run(bob, sample_image, script, runtime)
    assert described["status"] == "completed", described
    assert out.split() == ["0", "0"], out


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_nothing_a_job_can_read_holds_a_secret_of_the_stack(stack, alice, sample_image, runtime):
    script = 'env; for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do tr "\\000" "\\n" < $f; done 2>/dev/null'
    described, out = _run(alice, sample_image, script, runtime)
    assert described["status"] == "completed", described
    assert "PROMINENCE_TOKEN=" in out  # the job's own token, in its own environment
    leaked = [key for key, value in _stack_secrets(stack).items() if value in out]
    assert leaked == []
    assert not re.search(r"^(AIRFLOW__|PROMINENCE_S3_|PROMINENCE_JOB_TOKEN)", out, re.MULTILINE)


def test_the_hosts_command_lines_show_no_token_and_no_variable(stack, alice, sample_image):
    value = f"value-{secrets.token_hex(8)}"
    body = job(sample_image, "sleep 15", "udocker")
    body["tasks"][0]["env"] = {"SOME_SETTING": value}
    job_id = alice.submit(body)
    alice.wait(job_id, states=("running", "completed"))
    seen: list[str] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                seen.append(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                continue
        if any("udocker-run" in line and "run" in line for line in seen):
            break
        time.sleep(0.2)
    assert any("udocker-run" in line for line in seen), "the udocker job was never seen running"
    tokens = _tokens(stack)
    assert [line for line in seen if value in line or any(token in line for token in tokens)] == []
    alice.client.delete(f"/jobs/{job_id}")


def test_a_job_reaches_the_api_with_its_token_file_and_no_other_loopback_service(stack, alice, sample_image):
    registry_port = stack.env["PROMINENCE_REGISTRY"].rsplit(":", 1)[1]
    ports = {"registry": registry_port, "s3": stack.env["PROMINENCE_S3_PORT"], "postgresql": "5432"}
    probes = "; ".join(
        f"echo | nc -w 2 127.0.0.1 {port} >/dev/null 2>&1 && echo {name} open || echo {name} closed"
        for name, port in ports.items()
    )
    script = (
        'auth="Authorization: Bearer $(cat $HOME/.prominence/token)"; '
        'echo -n from-its-file > v; wget -q -O- --header "$auth" --post-file v "$PROMINENCE_URL/kv/isolated"; '
        f"echo; {probes}"
    )
    for runtime in RUNTIMES:
        described, out = _run(alice, sample_image, script, runtime)
        assert described["status"] == "completed", described
        assert [line for line in out.splitlines() if line.endswith(("open", "closed"))] == [
            "registry closed", "s3 closed", "postgresql closed",
        ], out  # fmt: skip
        stored = alice.client.get("/kv/isolated")
        assert (stored.status_code, stored.text) == (200, "from-its-file"), runtime
        alice.client.delete("/kv/isolated")


def test_the_task_logs_hold_no_token(stack, alice, sample_image):
    for runtime in RUNTIMES:
        alice.wait(alice.submit(job(sample_image, "echo hello", runtime)))
    tokens = _tokens(stack)
    logs = [path for path in (stack.home / "airflow" / "logs").rglob("*") if path.is_file()]
    assert logs, "no task log was written"
    assert [path for path in logs if any(token in path.read_text(errors="replace") for token in tokens)] == []
