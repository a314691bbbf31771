"""Identity: who is calling, from which kind of bearer token."""
