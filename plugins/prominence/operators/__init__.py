"""Code the workers run: the job DAG's operators and the public ProminenceJobOperator. Task code may
not touch the metadata database, so nothing here imports our tables or the api-server's code."""
