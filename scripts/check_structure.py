#!/usr/bin/env python3
"""Checks of the code's shape that no linter has, run by `make lint`:

- no module is much over 400 lines (a longer one wants splitting by what it holds);
- a function-local import has a one-line comment above it saying why it is not at the top
  (hidden import cycles were the reason most had, and the import contracts now forbid those).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAX_LINES = 420


def tracked_python_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "*.py"], cwd=REPO, capture_output=True, text=True, check=True)
    return [REPO / name for name in listed.stdout.split() if (REPO / name).exists()]


def findings(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    name = path.relative_to(REPO) if path.is_relative_to(REPO) else path
    found = [f"{name}: {len(lines)} lines, more than {MAX_LINES}"] if len(lines) > MAX_LINES else []
    for node in ast.walk(ast.parse("\n".join(lines))):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for before, stmt in zip([None, *node.body], node.body, strict=False):
            if not isinstance(stmt, (ast.Import, ast.ImportFrom)) or isinstance(before, (ast.Import, ast.ImportFrom)):
                continue
            above = lines[stmt.lineno - 2].strip() if stmt.lineno > 1 else ""
            if not above.startswith("#"):
                found.append(f"{name}:{stmt.lineno}: function-local import without a comment saying why")
    return found


def main() -> int:
    problems = [problem for path in tracked_python_files() for problem in findings(path)]
    print("\n".join(problems) or "structure: ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
