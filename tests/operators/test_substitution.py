"""Spec §13.4: the job's and workflow's ids in `cmd` and `workdir`, without a shell."""

from __future__ import annotations

import pytest

from prominence.operators.substitution import substitute_ids


@pytest.mark.parametrize(
    ("text", "conf", "expected"),
    [
        ("echo $PROMINENCE_JOB_ID ${PROMINENCE_JOB_ID}", {"job_id": 7}, "echo 7 7"),
        ("run-$PROMINENCE_WORKFLOW_ID/$PROMINENCE_JOB_ID", {"job_id": 7, "workflow_id": 3}, "run-3/7"),
        # Unknown variables, longer names and a standalone job's workflow id are left alone.
        ("$PROMINENCE_JOB_IDX $HOME $PROMINENCE_WORKFLOW_ID", {"job_id": 7}, "$PROMINENCE_JOB_IDX $HOME $PROMINENCE_WORKFLOW_ID"),
    ],
)
def test_ids_are_substituted_and_nothing_else(text, conf, expected):
    assert substitute_ids(text, conf) == expected
