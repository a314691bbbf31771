"""The suite-wide scan for leaked secrets: every answer any test's client gets, and at the end of
each stack every log it wrote, must hold none of the stack's secrets and none of the tokens it
handed out (users' bearer tokens, jobs' tokens)."""

from __future__ import annotations

from pathlib import Path

import httpx

# secrets.env entries that are not secret: the S3 access key id is part of every presigned URL.
NOT_SECRET = {"PROMINENCE_S3_EMBEDDED_ACCESS_KEY"}
# Shorter values would match by chance.
MIN_LENGTH = 12
_forbidden: set[str] = set()


def stack_secrets(home: Path) -> set[str]:
    entries = (line.split("=", 1) for line in (home / "secrets.env").read_text().splitlines() if "=" in line)
    return {value for key, value in entries if key not in NOT_SECRET and len(value) >= MIN_LENGTH}


def forbid(values: set[str]) -> None:
    """From now on no answer may contain any of `values`."""
    _forbidden.update(value for value in values if len(value) >= MIN_LENGTH)


def check_answer(response: httpx.Response) -> None:
    """An httpx response hook: fails the test whose request was answered with a secret."""
    if response.request.method == "HEAD" or not _forbidden:
        return
    text = response.read().decode(errors="replace")
    found = [value[:6] + "..." for value in _forbidden if value in text]
    assert not found, f"{response.request.method} {response.request.url} answered with secrets {found}"


def job_tokens(home: Path) -> set[str]:
    """The job tokens still in the sandboxes (root reads them)."""
    return {path.read_text() for path in (home / "sandboxes").glob("*/token") if path.is_file()}


def leaked_in_logs(home: Path, values: set[str]) -> list[str]:
    """The log files under `home` (the components' and Airflow's task logs, also those of worker
    hosts, scripts/stack_hosts.py) holding any of `values`."""
    values = {value for value in values if len(value) >= MIN_LENGTH}
    folders = [home / "logs", home / "airflow" / "logs", *home.glob("hosts/*/home/airflow/logs")]
    logs = [path for folder in folders if folder.is_dir() for path in folder.rglob("*")]
    return sorted(
        str(path.relative_to(home))
        for path in logs
        if path.is_file() and any(value in path.read_text(errors="replace") for value in values)
    )
