"""Email notifications and the task fields of issue 14 on the real stack: mails reach a real SMTP
server (the session's `mailbox`) once per finished job or workflow, at the address in the
owner's token; ids are substituted in `cmd` and `workdir` without a shell; a task's `stdout` file
gets its output; `storage` is refused."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.integration.api import Api, job
from tests.integration.test_workflows import submit, wait, wf_job

ADDRESS = "carol@example.org"
# Two reconciler passes (every 5 s): a second mail, if any, would have been sent by then.
SETTLE_SECONDS = 11
# Generous: the notification is what is under test here, not how fast jobs start.
WAIT = 300
FINISHED = [{"event": "jobFinished", "type": "email"}]


def patient(api: Api) -> Api:
    """Requests may wait longer than Api's 30 s: on a loaded machine the first ones after the
    stack's start did, and how fast the API answers is not under test here."""
    api.client.timeout = httpx.Timeout(WAIT)
    return api


@pytest.fixture(scope="module")
def carol(stack) -> Api:
    return patient(Api(stack.url, stack.token("carol", email=ADDRESS)))


def mails_to(mailbox, address: str) -> list:
    return [m for m in mailbox.messages if m["To"] == address]


def wait_for_mails(mailbox, address: str, count: int, timeout: float = 60) -> list:
    deadline = time.monotonic() + timeout
    while len(mails_to(mailbox, address)) < count and time.monotonic() < deadline:
        time.sleep(0.5)
    return mails_to(mailbox, address)


def test_a_finished_job_mails_its_owner_once_and_a_job_without_notifications_never(carol, mailbox, sample_image):
    notified = carol.submit(job(sample_image, "sh -c 'exit 3'", name="noisy", notifications=FINISHED))
    quiet = carol.submit(job(sample_image, "true", name="quiet"))
    assert carol.wait(notified, timeout=WAIT)["status"] == "completed"
    carol.wait(quiet, timeout=WAIT)
    [mail] = wait_for_mails(mailbox, ADDRESS, 1)
    assert mail["Subject"] == f"PROMINENCE job {notified} (noisy) completed"
    assert f"id: {notified}" in mail.get_content() and "status: completed" in mail.get_content()
    time.sleep(SETTLE_SECONDS)
    assert len(mails_to(mailbox, ADDRESS)) == 1
    assert not any(f"job {quiet} " in m["Subject"] for m in mailbox.messages)


def test_a_finished_workflow_mails_its_owner_once(stack, mailbox, sample_image):
    address = "dave@example.org"
    dave = patient(Api(stack.url, stack.token("dave", email=address)))
    body = {"name": "told", "jobs": [wf_job("a", sample_image, "true")]}
    workflow_id = submit(dave, {**body, "notifications": [{"event": "workflowFinished", "type": "email"}]})
    assert wait(dave, workflow_id, timeout=WAIT)["status"] == "completed"
    [mail] = wait_for_mails(mailbox, address, 1)
    assert mail["Subject"] == f"PROMINENCE workflow {workflow_id} (told) completed"
    time.sleep(SETTLE_SECONDS)
    assert len(mails_to(mailbox, address)) == 1


def test_ids_are_substituted_without_a_shell_and_a_task_stdout_file_gets_its_output(carol, sample_image):
    body = job(sample_image, "echo id=$PROMINENCE_JOB_ID ${PROMINENCE_JOB_ID} $HOME")
    first = body["tasks"][0]
    body["tasks"] += [
        {**first, "cmd": "sh -c 'pwd; echo oops >&2'", "workdir": "run-$PROMINENCE_JOB_ID", "stdout": "/home/user/logs/copy"},
        {**first, "cmd": "cat logs/copy"},
    ]
    job_id = carol.submit(body)
    assert carol.wait(job_id, timeout=WAIT)["status"] == "completed"
    # No shell: $HOME stays as written; the working directory is created in the job's home; the
    # second task's output, stderr merged, is in the job's stdout and in its file.
    copied = f"/home/user/run-{job_id}\noops\n"
    assert carol.stdout(job_id) == f"id={job_id} {job_id} $HOME\n" + copied + copied


def test_a_job_asking_for_storage_is_refused(carol, sample_image):
    storage = {"type": "onedata", "mountpoint": "/data", "onedata": {"provider": "p", "token": "t"}}
    response = carol.client.post("/jobs", json=job(sample_image, "true", storage=storage))
    assert (response.status_code, response.json()) == (400, {"error": "storage (OneData mounts) is not supported by this server"})
