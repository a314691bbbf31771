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
import signal
import subprocess
import tempfile
from pathlib import Path

from prominence.config import get_settings
from prominence.contract.namespace import RunningNamespace, read_record
from prominence.contract.sandbox import Sandbox
from prominence.operators.binds import artifact_binds
from prominence.runtimes.identity import uid_range

NOT_RUNNING = "Job is not running"
UNABLE = "Unable to execute command"
INVALID_PATH = "Invalid path"
SNAPSHOT_PATH = "A path to snapshot must be specified"
# A snapshot's tar may take longer than an interactive command.
SNAPSHOT_TIMEOUT_SECONDS = 300


class AttachError(Exception):
    """The spec's message for a command that cannot run or failed (a 400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def run_command(sandbox: Sandbox, argv: list[str]) -> bytes:
    """`argv` (mountpoints rewritten to their directories) in the job; its stdout and stderr."""
    mounts = dict((target, host) for host, target in artifact_binds(sandbox))
    argv = [mounts.get(arg, arg) for arg in argv]
    with tempfile.TemporaryFile() as output:
        _run(sandbox, argv, output, get_settings().exec_timeout)
        output.seek(0)
        return output.read()


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
    with tarball.open("wb") as output:
        _run(sandbox, ["tar", "-czf", "-", "-C", directory, "--", name], output, SNAPSHOT_TIMEOUT_SECONDS, stderr=False)


def _run(sandbox: Sandbox, argv: list[str], output, timeout: float, *, stderr: bool = True) -> None:
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
            stdout=output,
            stderr=subprocess.STDOUT if stderr else subprocess.DEVNULL,
            env=env,
            cwd="/",
            start_new_session=True,
        )
    except OSError:
        raise AttachError(UNABLE) from None
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise AttachError(UNABLE) from None
    if code != 0:
        raise AttachError(UNABLE)


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
