"""The reconciler's pass over lost workflow write-backs and DAG files."""

from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace

from prominence.contract.states import TERMINAL
from prominence.engine import reconciler

NOW = 10_000.0


def test_workflows_whose_run_ended_or_never_got_a_dag_file_are_repaired(monkeypatch, tmp_path):
    rows = [SimpleNamespace(id=i, owner="alice", name=f"w{i}", create_time=0, spec={}) for i in (5, 6, 7)]
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
    monkeypatch.setattr(
        reconciler, "graph_of", lambda workflow_id, owner, name, created, description: {"workflow_id": workflow_id}
    )
    monkeypatch.setattr(reconciler, "write_dag_file", written.append)
    reconciler._record_missed_workflow_outcomes()
    reconciler._write_lost_dag_files(NOW)
    assert finished == {5: True}
    assert written == [{"workflow_id": 7}]


def test_a_run_left_active_by_an_ended_workflow_without_its_dag_file_is_failed(monkeypatch, tmp_path):
    ended = NOW - reconciler.ENDED_WORKFLOW_RUN_GRACE_SECONDS - 1
    rows = {
        1: SimpleNamespace(id=1, status="deleted", end_time=ended),
        2: SimpleNamespace(id=2, status="deleted", end_time=NOW - 5),
        3: SimpleNamespace(id=3, status="running", end_time=None),
        4: SimpleNamespace(id=4, status="completed", end_time=ended),
        5: SimpleNamespace(id=5, status="completed", end_time=ended),
    }
    tmp_path.joinpath("workflow_5.py").touch()
    stopped = []

    @contextmanager
    def scope(write=False):
        yield None

    monkeypatch.setattr(reconciler, "session_scope", scope)
    monkeypatch.setattr(
        reconciler.runs, "active_workflow_dag_ids", lambda session: [reconciler.dag_id_for(i) for i in (*rows, 6)]
    )
    monkeypatch.setattr(
        reconciler.workflow_store,
        "ended_among",
        lambda session, ids: [rows[i] for i in ids if i in rows and rows[i].status in TERMINAL],
    )
    monkeypatch.setattr(reconciler, "dag_file", lambda workflow_id: tmp_path / f"workflow_{workflow_id}.py")
    monkeypatch.setattr(reconciler, "stop_dag_run", lambda session, workflow_id: stopped.append(workflow_id))
    reconciler._stop_runs_of_ended_workflows(NOW)
    assert stopped == [1, 4]
