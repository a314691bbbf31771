"""A run's conf holds the job under one key; runs started before that still read the same."""

from prominence.engine.runs import CONF_KEY, job_conf

JOB = {"job_id": 7, "uuid": "u", "sandbox": "/s", "cpus": 2}


def test_the_job_is_read_from_its_one_key():
    assert job_conf({CONF_KEY: JOB}) == JOB


def test_a_run_from_before_the_key_still_reads_its_job():
    assert job_conf(JOB) == JOB


def test_a_run_without_conf_has_no_job():
    assert job_conf(None) == {} and "job_id" not in job_conf({})
