"""Commands in a running job (spec §6.8 `exec`, §6.9 snapshots), run as the job's own uid.

The api-server shares its machine with the local workers (and the Celery workers of the embedded
stack), so it enters the namespaces of the job's running task with `nsenter` (user, mount, PID,
network, IPC: it sees the job's processes only, has no network but the job's, and holds the job's
uid and gid, no supplementary group, no way to regain privileges). The command runs in the job's
home on the worker, beside the container, as the spec says. A job whose task runs on another
machine, or is not confined (kubernetes), has no namespace here: it is not running for `exec`.
"""

from __future__ import annotations

import os
import posixpath
import pwd
import selectors
import signal
import subprocess
import time
from pathlib import Path
from typing import BinaryIO

from prominence.config import get_settings
from prominence.contract.namespace import RunningNamespace, read_record
from prominence.contract.sandbox import Sandbox
from prominence.operators.binds import artifact_binds
from prominence.runtimes.identity import uid_range

NOT_RUNNING = "Job is not running"
UNABLE = "Unable to execute command"
INVALID_PATH = "Invalid path"
SNAPSHOT_PATH = "A path to snapshot must be specified"
SNAPSHOT_TOO_LARGE = "Snapshot is larger than {limit} bytes"
TRUNCATED = "\n[output cut at {limit} bytes]\n"
# A snapshot's tar may take longer than an interactive command.
SNAPSHOT_TIMEOUT_SECONDS = 300


class AttachError(Exception):
    """The spec's message for a command that cannot run or failed (a 400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def run_command(sandbox: Sandbox, argv: list[str]) -> bytes:
    """`argv` (mountpoints rewritten to their directories) in the job; its stdout and stderr, cut
    at `exec_output_bytes` (the command is stopped there: `yes` cannot fill the api-server)."""
    mounts = dict((target, host) for host, target in artifact_binds(sandbox))
    argv = [mounts.get(arg, arg) for arg in argv]
    settings = get_settings()
    chunks: list[bytes] = []
    whole = _run(sandbox, argv, chunks.append, settings.exec_timeout, settings.exec_output_bytes)
    output = b"".join(chunks)
    return output if whole else output + TRUNCATED.format(limit=settings.exec_output_bytes).encode()


def snapshot(sandbox: Sandbox, path: str, tarball: Path) -> None:
    """Write the gzipped tar of `path` (relative to the home, or an artifact's mountpoint) to
    `tarball`, tar run as the job's uid, so links in the home reach nothing the job cannot read."""
    if not path:
        raise AttachError(SNAPSHOT_PATH)
    mounts = {target.rstrip("/"): host for host, target in artifact_binds(sandbox)}
    if path.startswith("/"):
        if path.rstrip("/") not in mounts:
            raise AttachError(INVALID_PATH)
        directory, name = os.path.split(mounts[path.rstrip("/")])
    else:
        normal = posixpath.normpath(path)
        if normal == ".." or normal.startswith("../"):
            raise AttachError(INVALID_PATH)
        directory, name = str(sandbox.home), normal
    limit = get_settings().snapshot_bytes
    with tarball.open("wb") as output:
        if not _run(
            sandbox,
            ["tar", "-czf", "-", "-C", directory, "--", name],
            output.write,
            SNAPSHOT_TIMEOUT_SECONDS,
            limit,
            stderr=False,
        ):
            raise AttachError(SNAPSHOT_TOO_LARGE.format(limit=limit))


def _run(sandbox: Sandbox, argv: list[str], sink, timeout: float, limit: int, *, stderr: bool = True) -> bool:
    """Run `argv` in the job, passing at most `limit` bytes of its output to `sink`; False when
    the output went past `limit` (the command is killed there, its exit code then not asked)."""
    namespace = _namespace(sandbox)
    account = pwd.getpwuid(namespace.uid)
    command = [
        "setpriv",
        "--clear-groups",
        "--no-new-privs",
        "--",
        "nsenter",
        f"--target={namespace.pid}",
        "--user",
        "--mount",
        # The recorded process is the namespaces' `unshare`: the job's PID namespace is its children's.
        f"--pid=/proc/{namespace.pid}/ns/pid_for_children",
        "--net",
        "--ipc",
        f"--setuid={namespace.uid}",
        f"--setgid={account.pw_gid}",
        f"--wd={sandbox.home}",
        "--",
        *argv,
    ]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(sandbox.home), "USER": account.pw_name, "LANG": "C.UTF-8"}
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if stderr else subprocess.DEVNULL,
            env=env,
            cwd="/",
            start_new_session=True,
        )
    except OSError:
        raise AttachError(UNABLE) from None
    deadline = time.monotonic() + timeout
    try:
        whole = _copy(process.stdout, sink, deadline, limit)
        code = process.wait(timeout=max(0.0, deadline - time.monotonic())) if whole else None
    except (TimeoutError, subprocess.TimeoutExpired):
        whole = code = None
    finally:
        process.stdout.close()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if whole is None or (whole and code != 0):
        raise AttachError(UNABLE)
    return whole


def _copy(source: BinaryIO, sink, deadline: float, limit: int) -> bool:
    """Copy `source` to `sink` until its end (True) or `limit` bytes (False); TimeoutError past
    `deadline`."""
    left = limit
    with selectors.DefaultSelector() as selector:
        selector.register(source, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise TimeoutError
            chunk = os.read(source.fileno(), 65536)
            if not chunk:
                return True
            sink(chunk[:left])
            left -= len(chunk)
            if left < 0:
                return False


def _namespace(sandbox: Sandbox) -> RunningNamespace:
    """The running task's namespace, when its process runs as the uid the job's tasks were given
    (one of the jobs' range, never root nor the stack's)."""
    namespace = read_record(sandbox.namespace_file)
    try:
        recorded = int(sandbox.identity_file.read_text())
    except (OSError, ValueError):
        recorded = None
    if namespace is None or namespace.uid != recorded or namespace.uid not in uid_range():
        raise AttachError(NOT_RUNNING)
    return namespace
