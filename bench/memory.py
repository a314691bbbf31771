"""Idle memory (PSS) of the whole stack, per component, against a bare Python interpreter."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

IDLE_SECONDS = 15


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def run(stack) -> dict:
    time.sleep(IDLE_SECONDS)
    components = {}
    for pid_file in sorted((stack.home / "run").glob("*.pid")):
        pid = int(pid_file.read_text())
        # The supervisor's descendants are the other components: count only itself.
        members = [pid] if pid_file.stem == "supervisor" else descendants(pid)
        components[pid_file.stem] = sum(pss_kib(p) for p in members) / 1024
    bare = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    time.sleep(1)
    baseline = pss_kib(bare.pid) / 1024
    bare.kill()
    return {"components_mib": components, "total_mib": sum(components.values()), "bare_python_mib": baseline}
