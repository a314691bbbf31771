"""Runs a container's command line as its child and writes how it ended to EXIT_FILE (atomically),
then ends the same way. The task process that started the run may die first (a killed scheduler
or worker): the task's next try then reads the result here (`execution.py`) instead of running
the container again.

Run as `python -I shepherd.py EXIT_FILE -- ARGV...` (isolated: it imports nothing of the
project). A SIGTERM to the run's process group reaches the command; this process outlives it to
record the end, marked `interrupted` (stopped from outside, so the run counts for nothing).
"""

import json
import os
import signal
import sys
import time


def main() -> None:
    exit_file, argv = sys.argv[1], sys.argv[3:]
    interrupted = []
    signal.signal(signal.SIGTERM, lambda *_: interrupted.append(True))
    started = time.monotonic()
    # posix_spawn, not fork: the child's peak RSS is then its own, not that of this interpreter.
    try:
        pid = os.posix_spawnp(argv[0], argv, os.environ, setsigdef=(signal.SIGTERM,))
    except OSError as exc:
        print(f"prominence: cannot run {argv[0]}: {exc}", file=sys.stderr)
        sys.exit(127)
    _, status, usage = os.wait4(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    record = {
        "exitCode": code,
        "wallSeconds": time.monotonic() - started,
        "cpuSeconds": usage.ru_utime + usage.ru_stime,
        "maxRssKb": usage.ru_maxrss,
        "interrupted": bool(interrupted),
    }
    tmp = f"{exit_file}.{os.getpid()}.tmp"
    with open(tmp, "w") as handle:
        json.dump(record, handle)
    os.replace(tmp, exit_file)
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code)


if __name__ == "__main__":
    main()
