"""Example: a DAG that runs whenever a PROMINENCE job uploads a given output.

Every output that a completed job uploads is an Airflow Asset,
`prominence://<owner>/<job name>/<output name>` (see `prominence.contract.assets`). This DAG is
scheduled on the output `result.txt` of alice's jobs named `daily-simulation`: each time one
completes, it runs once, and the asset event tells it the job and the object's key and bucket,
so the next step can read the result from object storage.

The owner and job name come from `PROMINENCE_EXAMPLE_OWNER` and `PROMINENCE_EXAMPLE_JOB`
(defaults `alice` and `daily-simulation`).
"""

from __future__ import annotations

import os

from airflow.sdk import DAG, Asset, task

from prominence.contract.assets import output_asset_uri

RESULT = Asset(
    output_asset_uri(
        os.environ.get("PROMINENCE_EXAMPLE_OWNER", "alice"),
        os.environ.get("PROMINENCE_EXAMPLE_JOB", "daily-simulation"),
        "result.txt",
    )
)

with DAG(
    dag_id="example_prominence_output_asset",
    schedule=[RESULT],
    catchup=False,
    tags=["prominence", "example"],
    doc_md=__doc__,
):

    @task(inlets=[RESULT])
    def locate_result(*, triggering_asset_events=None) -> dict:
        """Where the new result is: the event's job id, bucket and object key."""
        event = triggering_asset_events[RESULT][-1]
        return {name: event.extra[name] for name in ("job_id", "bucket", "key", "size")}

    locate_result()
