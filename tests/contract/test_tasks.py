"""A run's conf holds the job under one key, and a conf of anything else carries no job."""

from prominence.contract.tasks import CONF_KEY, job_conf, run_id_for

JOB = {"job_id": 7, "uuid": "u", "sandbox": "/s", "cpus": 2}


def test_the_job_is_read_from_its_one_key():
    assert job_conf({CONF_KEY: JOB}) == JOB


def test_a_conf_without_the_key_has_no_job():
    assert job_conf(JOB) == {} and job_conf(None) == {}


def test_run_ids_are_deterministic_per_job():
    assert run_id_for(7) == run_id_for(7) == "job-7" != run_id_for(8)
