"""Start a command as on a worker host of its own (scripts/stack_hosts.py): run by `ip netns exec`,
which gives it a mount namespace of its own, it binds each PRIVATE:SHARED pair (folders, and
the worker's own /etc/hosts), then executes the command, so what it writes there stays on this
worker.

Usage: worker_host.py PRIVATE:SHARED... -- COMMAND...
"""

from __future__ import annotations

import os
import subprocess
import sys


def main(argv: list[str]) -> int:
    if "--" not in argv:
        print(__doc__, file=sys.stderr)
        return 2
    split = argv.index("--")
    binds, command = argv[:split], argv[split + 1 :]
    if not command:
        print(__doc__, file=sys.stderr)
        return 2
    for pair in binds:
        private, shared = pair.split(":", 1)
        if os.path.isdir(private):
            os.makedirs(shared, exist_ok=True)
        subprocess.run(["mount", "--bind", private, shared], check=True, stdin=subprocess.DEVNULL)
    os.execvp(command[0], command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
