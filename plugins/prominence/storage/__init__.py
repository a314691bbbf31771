"""Object storage through boto3, archive unpacking and artifact downloads (used by workers and the api-server)."""
