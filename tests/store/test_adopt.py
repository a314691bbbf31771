"""An installation from before our tables had a file of their own keeps its jobs."""

from sqlalchemy import create_engine, insert, select

from prominence.store.schema import adopt, upgrade
from prominence.store.tables import ids, jobs, kv


def _job(job_id: int) -> dict:
    return dict(id=job_id, uuid=f"u-{job_id}", owner="alice", groups="", name="old", status="completed",
                spec={"tasks": []}, create_time=1, in_queue=False, leave_in_queue=False)


def test_rows_move_once_into_the_new_file(tmp_path):
    old = create_engine(f"sqlite:///{tmp_path / 'airflow.db'}")
    new = create_engine(f"sqlite:///{tmp_path / 'prominence.db'}")
    upgrade(old)
    upgrade(new)
    with old.begin() as db:
        db.execute(insert(ids), [{"kind": "job"}, {"kind": "job"}])
        db.execute(insert(jobs), [_job(1), _job(2)])
        db.execute(insert(kv), [{"owner": "alice", "path": "a", "value": b"\x00\x01"}])

    assert adopt(old, new) == 5
    with new.connect() as db:
        assert [row.id for row in db.execute(select(jobs.c.id).order_by(jobs.c.id))] == [1, 2]
        assert db.execute(select(kv.c.value)).scalar() == b"\x00\x01"
    # Ids go on from where the old sequence stopped.
    with new.begin() as db:
        assert db.execute(insert(ids).values(kind="job")).inserted_primary_key[0] == 3
    # A second `up` copies nothing again.
    assert adopt(old, new) == 0


def test_a_fresh_installation_has_nothing_to_adopt(tmp_path):
    old = create_engine(f"sqlite:///{tmp_path / 'airflow.db'}")
    new = create_engine(f"sqlite:///{tmp_path / 'prominence.db'}")
    upgrade(new)
    assert adopt(old, new) == 0
