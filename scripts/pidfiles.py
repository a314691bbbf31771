"""supervisord event listener: keeps `run/<component>.pid` naming each RUNNING component.

pidfiles.py RUN_DIR COMPONENT...
"""

from __future__ import annotations

import sys
from pathlib import Path

from supervisor import childutils

GONE = {"PROCESS_STATE_STOPPING", "PROCESS_STATE_STOPPED", "PROCESS_STATE_EXITED", "PROCESS_STATE_BACKOFF", "PROCESS_STATE_FATAL"}


def record(run_dir: Path, event: str, payload: dict[str, str], components: set[str]) -> None:
    name = payload.get("processname")
    if name not in components:
        return
    pid_file = run_dir / f"{name}.pid"
    if event == "PROCESS_STATE_RUNNING":
        partial = pid_file.with_suffix(".pid.new")
        partial.write_text(f"{payload['pid']}\n")
        partial.replace(pid_file)
    elif event in GONE:
        pid_file.unlink(missing_ok=True)


def main(run_dir: Path, components: set[str]) -> None:
    while True:
        headers, body = childutils.listener.wait(sys.stdin, sys.stdout)
        record(run_dir, headers["eventname"], childutils.get_headers(body.split("\n", 1)[0]), components)
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    main(Path(sys.argv[1]), set(sys.argv[2:]))
