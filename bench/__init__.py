"""Benchmarks: they print figures against baselines measured in the same run; they assert nothing."""
