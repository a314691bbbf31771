"""What every process shares: the api-server, the scheduler, the dag-processor, the triggerer and
the workers (task ids, the run's conf, task reports, the sandbox, object keys, job states).

Nothing here touches Airflow's ORM or our tables, so task code may import all of it.
"""
