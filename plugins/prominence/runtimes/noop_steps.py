"""The process of a `noop` run (see noop.py): `python -I noop_steps.py WORKDIR STEP ; STEP ...`.

Standard library only, so that it starts in milliseconds without this package on the path.
"""

import os
import sys
import time


def main(workdir: str, words: list[str]) -> int:
    os.chdir(workdir)
    steps: list[list[str]] = [[]]
    for word in words:
        if word == ";":
            steps.append([])
        else:
            steps[-1].append(word)
    for name, *args in (step for step in steps if step):
        if name == "echo":
            print(" ".join(args), flush=True)
        elif name == "warn":
            print(" ".join(args), file=sys.stderr, flush=True)
        elif name == "env":
            print(os.environ.get(args[0], ""), flush=True)
        elif name == "write":
            with open(args[0], "w") as handle:
                handle.write(" ".join(args[1:]))
        elif name == "sleep":
            time.sleep(float(args[0]))
        elif name == "exit":
            return int(args[0])
        else:
            print(f"noop: unknown step {name}", file=sys.stderr)
            return 127
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
