"""The workflow DAG the dag-processor builds from a generated file's graph."""

from __future__ import annotations

from prominence.contract.workflows import dag_id_for
from prominence.dags.workflow import build_dag, task_ids


def graph(**overrides):
    base = {
        "workflow_id": 7,
        "owner": "alice",
        "name": "chain",
        "created": 1_700_000_000,
        "retries": 2,
        "nodes": ["first", "mid dle/x", "last"],
        "parents": {"mid dle/x": ["first"], "last": ["first", "mid dle/x"]},
    }
    return {**base, **overrides}


def test_one_node_per_job_with_the_dependencies_as_edges():
    dag = build_dag(graph())
    ids = task_ids(graph()["nodes"])
    assert dag.dag_id == dag_id_for(7)
    assert set(dag.task_dict) == set(ids.values())
    assert dag.task_dict[ids["last"]].upstream_task_ids == {ids["first"], ids["mid dle/x"]}
    assert dag.task_dict[ids["first"]].upstream_task_ids == set()
    assert all(task.retries == 2 for task in dag.tasks)


def test_only_its_owners_role_is_granted_read_access():
    dag = build_dag(graph(owner="bob"))
    assert dag.access_control == {"ProminenceUser:bob": {"DAGs": {"can_read"}, "DAG Runs": {"can_read"}}}


def test_job_names_that_clash_once_cleaned_get_distinct_task_ids():
    ids = task_ids(["a b", "a/b", "a_b", ""])
    assert len(set(ids.values())) == 4
    assert ids[""] == "job"
