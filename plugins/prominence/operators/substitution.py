"""Spec §13.4: `$PROMINENCE_JOB_ID` and `$PROMINENCE_WORKFLOW_ID` (or `${...}`) in a task's `cmd`
and `workdir` are replaced before the command is split, so they work without a shell; any other
`$x` is left as it is (a shell the user runs, `/bin/sh -c "..."`, expands those)."""

from __future__ import annotations

import re
from typing import Any

_IDS = re.compile(r"\$\{(PROMINENCE_JOB_ID|PROMINENCE_WORKFLOW_ID)\}|\$(PROMINENCE_JOB_ID|PROMINENCE_WORKFLOW_ID)(?!\w)")


def substitute_ids(text: str, conf: dict[str, Any]) -> str:
    """`text` with the job's id and, in a workflow's job, the workflow's id filled in."""
    values = {"PROMINENCE_JOB_ID": str(conf["job_id"])}
    if conf.get("workflow_id"):
        values["PROMINENCE_WORKFLOW_ID"] = str(conf["workflow_id"])
    return _IDS.sub(lambda m: values.get(m.group(1) or m.group(2), m.group(0)), text)
