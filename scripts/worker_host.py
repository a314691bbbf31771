"""Start a command as on a worker host of its own (scripts/stack_hosts.py). Run in the worker's
network namespace and in a mount namespace of its own, it binds the stack's shared folders (`--share`)
into the worker's own home, puts that home over the stack's, its own hosts file over /etc/hosts,
and executes the command: the command sees of the stack's home only the shared folders.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, stdin=subprocess.DEVNULL)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", required=True, help="the stack's home")
    parser.add_argument("--own", required=True, help="the worker's own home, with a mount point per shared folder")
    parser.add_argument("--hosts", required=True, help="the worker's /etc/hosts")
    parser.add_argument("--share", action="append", default=[], help="a folder of the stack's home the worker shares")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    # The hosts file first: it is in the stack's home, which the last mount covers.
    mount("--bind", args.hosts, "/etc/hosts")
    for name in args.share:
        mount("--bind", os.path.join(args.home, name), os.path.join(args.own, name))
    mount("--rbind", args.own, args.home)
    os.execvp(command[0], command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
