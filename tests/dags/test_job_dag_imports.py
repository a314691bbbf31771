"""What a task process pays to parse the job DAG's file: every task process of every job parses
it, so the S3 client library (boto3, ~90 ms of imports) loads only in the tasks that stage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

JOB_DAG = Path(__file__).resolve().parents[2] / "dags" / "prominence_job.py"


def test_parsing_the_job_dag_does_not_load_boto3():
    check = f"import runpy, sys; runpy.run_path({str(JOB_DAG)!r}); print(sorted(m for m in ('boto3', 'botocore') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[-2] == "[]"
