"""Our tables (SQLAlchemy), their queries and migrations: used by the api-server and the scheduler only."""
