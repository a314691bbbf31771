"""Code the dag-processor runs: the DAGs that generated workflow files build."""
