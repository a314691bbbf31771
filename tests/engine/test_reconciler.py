"""The reconciler's pass over lost runs: each job on its own, a job that never starts ends
`failed` with a reason after a bounded number of tries, and never holds up the others."""

from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace

import pytest

from prominence.engine import reconciler
from prominence.engine.reconciler import MAX_START_ATTEMPTS, START_FAILED, Reconciler

NOW = 10_000.0


@pytest.fixture
def world(monkeypatch):
    """Two jobs accepted long ago without a run; starting job 1 always raises."""
    state = SimpleNamespace(rows=[SimpleNamespace(id=i, spec={}, create_time=0) for i in (1, 2)], runs={}, finished={})

    @contextmanager
    def scope(write=False):
        yield None

    def restart(session, row):
        if row.id == 1:
            raise RuntimeError("trigger_dag failed")
        state.runs[row.id] = "queued"

    def finish(session, job_id, **values):
        state.finished[job_id] = values
        state.rows = [row for row in state.rows if row.id != job_id]
        return True

    monkeypatch.setattr(reconciler, "session_scope", scope)
    monkeypatch.setattr(reconciler, "restart_run", restart)
    monkeypatch.setattr(reconciler.store, "active_jobs", lambda session: list(state.rows))
    monkeypatch.setattr(reconciler.store, "finish_job", finish)
    monkeypatch.setattr(reconciler.live, "start_times", lambda session, ids: {})
    monkeypatch.setattr(reconciler.runs, "run_states", lambda session, ids: {i: state.runs[i] for i in ids if i in state.runs})
    monkeypatch.setattr(reconciler, "_stop_deleted", lambda now: None)
    monkeypatch.setattr(reconciler, "_record_missed_workflow_outcomes", lambda: None)
    monkeypatch.setattr(reconciler, "_write_lost_dag_files", lambda now: None)
    return state


def test_a_job_that_never_starts_fails_with_a_reason_and_the_others_start(world):
    passes = Reconciler()
    passes.reconcile(NOW)
    assert world.runs == {2: "queued"} and world.finished == {}
    for _ in range(MAX_START_ATTEMPTS - 1):
        passes.reconcile(NOW)
    assert world.finished[1]["status"] == "failed"
    assert world.finished[1]["reason"] == START_FAILED
    assert [row.id for row in world.rows] == [2]


def test_a_run_created_meanwhile_by_the_dispatcher_is_no_failure(world, monkeypatch):
    def created_elsewhere(session, row):
        world.runs[row.id] = "queued"
        raise RuntimeError("run exists already")

    monkeypatch.setattr(reconciler, "restart_run", created_elsewhere)
    passes = Reconciler()
    for _ in range(MAX_START_ATTEMPTS):
        passes.reconcile(NOW)
    assert world.finished == {} and passes.start_failures == {}


def test_workflows_whose_run_ended_or_never_got_a_dag_file_are_repaired(monkeypatch, tmp_path):
    rows = [SimpleNamespace(id=i, name=f"w{i}", create_time=0, spec={}) for i in (5, 6, 7)]
    finished, written = {}, []

    @contextmanager
    def scope(write=False):
        yield None

    monkeypatch.setattr(reconciler, "session_scope", scope)
    monkeypatch.setattr(reconciler.workflow_store, "active_workflows", lambda session: rows)
    monkeypatch.setattr(
        reconciler.runs,
        "dag_runs_of",
        lambda session, dag_ids: {reconciler.dag_id_for(5): "success", reconciler.dag_id_for(6): "running"},
    )
    monkeypatch.setattr(
        reconciler, "finish_workflow", lambda session, workflow_id, succeeded: finished.update({workflow_id: succeeded})
    )
    monkeypatch.setattr(reconciler, "dag_file", lambda workflow_id: tmp_path / f"workflow_{workflow_id}.py")
    monkeypatch.setattr(reconciler, "description_of", lambda row: None)
    monkeypatch.setattr(reconciler, "graph_of", lambda workflow_id, name, created, description: {"workflow_id": workflow_id})
    monkeypatch.setattr(reconciler, "write_dag_file", written.append)
    reconciler._record_missed_workflow_outcomes()
    reconciler._write_lost_dag_files(NOW)
    assert finished == {5: True}
    assert written == [{"workflow_id": 7}]
