"""The Airflow Assets that a job's uploaded outputs are (a contract with DAG authors).

Each output that a completed job uploads is an asset event on `prominence://<owner>/<job name>/
<output name>`, added through the alias OUTPUTS_ALIAS by the stage-out task, so a DAG scheduled
on that URI runs when the output appears. The owner part is the run's owner, set by the API,
never by the job: a user's jobs can only emit events on assets under their own name.
"""

from __future__ import annotations

from urllib.parse import quote

OUTPUTS_ALIAS = "prominence-outputs"
SCHEME = "prominence"


def output_asset_uri(owner: str, job_name: str, output: str) -> str:
    """The URI of output `output` of the owner's job named `job_name` (its run id when unnamed)."""
    return f"{SCHEME}://{quote(owner, safe='')}/{quote(job_name, safe='/')}/{quote(output, safe='/')}"
