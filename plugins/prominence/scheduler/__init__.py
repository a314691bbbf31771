"""Code the scheduler runs: the cluster policy, the write-back of ended runs, status derivation."""
