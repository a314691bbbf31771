"""Code the triggerer runs: deferred waits that talk to the REST API, never to the database."""
