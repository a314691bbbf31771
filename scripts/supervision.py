"""The stack under supervisord: its configuration, generated from the component commands, and
the XML-RPC calls (over the unix socket in `run/`) that start, watch and stop it.

supervisord restarts a component that dies (SQLite can kill the scheduler), with a growing delay
while it keeps failing within START_SECONDS; it stops and kills each component's whole process
group. It has no TCP listener: its socket is 0700 and its pid file 0600, in `run/`.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import xmlrpc.client
from pathlib import Path

from leftovers import become_subreaper, record_session, wait_until
from stack_celery import WORKER_PRIORITY
from stack_config import BIN, REPO, Stack
from supervisor.xmlrpc import SupervisorTransport

STOP_GRACE = 15
# Shorter graces, then SIGKILL, where waiting them out bought nothing. The triggerer holds
# nothing (its triggers are rows of the database; its job row counts as dead 15 s after its last
# heartbeat), but Airflow's stops its trigger runner child, which the group's SIGTERM has ended
# already, by waiting out a 10 s escalation delay. The api-server stops after the scheduler, once
# its tasks have reported back; uvicorn has stopped serving within a second, and asyncio's
# shutdown then idled another 10 s.
STOP_GRACE_OF = {"triggerer": 3, "api-server": 5}
START_SECONDS = 10
START_RETRIES = 10
# Started in ascending, stopped in descending order: the scheduler stops first, while the
# api-server still answers, so its running tasks are told to stop and report back, and their
# jobs run again after the next `up` instead of failing. Celery workers (`worker-N`) stop right
# after the scheduler, for the same reason: their tasks report back to the api-server.
PRIORITY = {
    "registry": 100,
    "s3": 100,
    "api-server": 200,
    "dag-processor": 300,
    "triggerer": 300,
    "reconciler": 300,
    "scheduler": 400,
}
# Worker hosts' links (scripts/stack_hosts.py) come up first and stop after the workers, which report back over them.
LINK_PRIORITY = 50
PID_FILES = "pidfiles"
ACTIVE = {"STARTING", "RUNNING", "BACKOFF", "STOPPING"}


def socket_path(stack: Stack) -> Path:
    return stack.path("run", "supervisor.sock")


def config_path(stack: Stack) -> Path:
    return stack.path("run", "supervisord.conf")


def quoted(argv: list[str]) -> str:
    """A command line for supervisord, which splits it with shlex and expands `%(...)s`."""
    return shlex.join(argv).replace("%", "%%")


def caller_umask() -> int:
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def render_config(stack: Stack, commands: dict[str, list[str]], own_env: dict[str, dict[str, str]]) -> str:
    """supervisord.conf: supervisord itself runs under umask 077 (see `before_exec`), each
    component with the caller's umask, its log in `logs/<name>.log`, its environment inherited
    plus its own secrets (`own_env`, in this 0600 file only)."""
    run, logs = stack.path("run"), stack.path("logs")
    umask = f"{caller_umask():03o}"
    sections = [
        f"[supervisord]\nnodaemon = true\nsilent = true\nlogfile = {logs / 'supervisor.log'}\n"
        f"pidfile = {run / 'supervisor.pid'}\nchildlogdir = {logs}\ndirectory = {stack.home}\n",
        f"[unix_http_server]\nfile = {socket_path(stack)}\nchmod = 0700\n",
        "[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n",
        f"[supervisorctl]\nserverurl = unix://{socket_path(stack)}\n",
        # Writes run/<component>.pid whenever a component is RUNNING, removes it when it is not.
        f"[eventlistener:{PID_FILES}]\n"
        f"command = {quoted([sys.executable, str(REPO / 'scripts' / 'pidfiles.py'), str(run), *commands])}\n"
        f"events = PROCESS_STATE\nbuffer_size = 1000\npriority = 1\numask = {umask}\nstderr_logfile = {logs / 'pidfiles.log'}\n"
        "stopsignal = KILL\n",
    ]
    for name, argv in commands.items():
        own = ",".join(f'{key}="{value}"'.replace("%", "%%") for key, value in own_env.get(name, {}).items())
        sections.append(
            f"[program:{name}]\ncommand = {quoted(argv)}\npriority = {priority(name)}\numask = {umask}\n"
            + (f"environment = {own}\n" if own else "")
            + f"startsecs = {START_SECONDS}\nstartretries = {START_RETRIES}\nautorestart = true\n"
            f"stopsignal = TERM\nstopwaitsecs = {STOP_GRACE_OF.get(name, STOP_GRACE)}\nstopasgroup = true\nkillasgroup = true\n"
            f"redirect_stderr = true\nstdout_logfile = {logs / f'{name}.log'}\n"
        )
    return "\n".join(sections)


def priority(name: str) -> int:
    return LINK_PRIORITY if name.startswith("link-") else PRIORITY.get(name, WORKER_PRIORITY)


def before_exec() -> None:
    """In supervisord's process: umask 077 for its pid file, socket and log (supervisord sets its
    `umask` option only when it daemonizes), and the child subreaper flag, which survives exec."""
    os.umask(0o077)
    become_subreaper()


def start(
    stack: Stack, commands: dict[str, list[str]], env: dict[str, str], own_env: dict[str, dict[str, str]]
) -> subprocess.Popen:
    """Start supervisord in a session of its own (recorded for the sweep) as a child subreaper.

    The components inherit `env` from it; only a secret that one component alone may hold is
    written into its configuration (`own_env`), which is 0600 in the 0700 `run/`.
    """
    run = stack.path("run")
    run.chmod(0o700)
    path = config_path(stack)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(render_config(stack, commands, own_env))
    with open(stack.path("logs", "supervisor.log"), "ab") as log:
        process = subprocess.Popen(
            [str(BIN / "supervisord"), "-c", str(path)],
            env=env,
            cwd=stack.home,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=before_exec,
        )
    record_session(run, process.pid)
    return process


def rpc(stack: Stack) -> xmlrpc.client.ServerProxy:
    transport = SupervisorTransport(None, None, serverurl=f"unix://{socket_path(stack)}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def components(stack: Stack) -> dict[str, dict] | None:
    """Each component's process info as supervisord reports it (`statename`, `pid`, `start`...),
    or None when supervisord does not answer."""
    try:
        infos = rpc(stack).supervisor.getAllProcessInfo()
    except (OSError, xmlrpc.client.Error):
        return None
    return {info["name"]: info for info in infos if info["group"] != PID_FILES}


def stop(stack: Stack) -> None:
    """The scheduler first, then the Celery workers, then the other components together, then
    supervisord itself, whose pid-file listener thus sees every component stop."""
    server = rpc(stack).supervisor

    def stopping() -> list[str]:
        return [name for name, info in (components(stack) or {}).items() if info["statename"] in ACTIVE]

    try:
        if "scheduler" in stopping():
            server.stopProcess("scheduler", True)
        workers = [name for name in stopping() if priority(name) == WORKER_PRIORITY]
        for name in workers:
            server.stopProcess(name, False)
        wait_until(lambda: not set(workers) & set(stopping()), STOP_GRACE + 5)
        for name in stopping():
            server.stopProcess(name, False)
        wait_until(lambda: not stopping(), STOP_GRACE + 5)
        # Stopped by supervisord's shutdown, the listener took 4 s to go, even by SIGKILL.
        server.stopProcess(PID_FILES, False)
        server.shutdown()
    except (OSError, xmlrpc.client.Error):
        pass  # supervisord is gone, or a component stopped meanwhile: the sweep ends what is left
