"""The REST API client used by operators and triggers (a hook owns the I/O)."""
