"""The database of a PostgreSQL stack and the role its components log in as.

PROMINENCE_DATABASE_URL names an admin role (one that may create roles and databases, e.g.
`postgres`); only `up` and the teardown of a stack's database use it. Every component gets the
URL of the stack's own role instead, `<database>_stack`: a login role with a password generated
once into `secrets.env` (PROMINENCE_DATABASE_PASSWORD), owner of the database and of its schema
`public`, and a member of the NOLOGIN group PASSWORD_GROUP, for which scripts/install-system.sh
makes the local server's pg_hba.conf ask a password (scram-sha-256) on every connection.

The password never reaches the server in clear: the role's password is set as a SCRAM-SHA-256
verifier computed here, so a logged statement would show the verifier only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import secrets

ADMIN_DATABASE_URL = "PROMINENCE_DATABASE_URL"
PASSWORD = "PROMINENCE_DATABASE_PASSWORD"
PASSWORD_GROUP = "prominence_stacks"
SCRAM_ITERATIONS = 4096


def is_postgresql(url: str | None) -> bool:
    return (url or "").startswith("postgresql")


def role_name(database: str) -> str:
    return f"{database}_stack"


def component_url(admin: str, password: str) -> str:
    """`admin` with the stack's role and its password: what every component connects with
    (another database than PostgreSQL is used as given)."""
    if not is_postgresql(admin):
        return admin
    # SQLAlchemy loads only for a PostgreSQL stack.
    from sqlalchemy.engine import make_url

    url = make_url(admin)
    return url.set(username=role_name(url.database), password=password).render_as_string(hide_password=False)


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802, RFC 7677), in its
    `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` form. The password is used as is:
    SASLprep leaves the ASCII of secrets.token_urlsafe unchanged."""
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored_key = hashlib.sha256(hmac.digest(salted, b"Client Key", "sha256")).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    def b64(value: bytes) -> str:
        return base64.b64encode(value).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def connect(url: str, dbname: str):
    """An autocommit psycopg2 connection to `dbname` with the host, port and credentials of `url`."""
    # The driver loads only for a PostgreSQL stack.
    import psycopg2
    from sqlalchemy.engine import make_url

    target = make_url(url)
    kw = {"host": target.host, "port": target.port, "user": target.username, "password": target.password}
    conn = psycopg2.connect(dbname=dbname, **{k: v for k, v in kw.items() if v is not None}, **target.query)
    conn.autocommit = True
    return conn


# Created once; two stacks coming up at once may both try, and one of them sees it exist.
CREATE_GROUP = f"""
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PASSWORD_GROUP}') THEN
        CREATE ROLE {PASSWORD_GROUP} NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$"""
# What schema `public` holds that another role owns (a database created before the stack had a
# role of its own, by the admin role): the role takes it over. Tables first (their sequences
# and row types go with them), then sequences, types and functions left.
HAND_OVER = """
DO $$ DECLARE
    stack_role oid := (SELECT oid FROM pg_roles WHERE rolname = %(role)s);
    item record;
BEGIN
    FOR item IN SELECT oid::regclass AS name, relkind FROM pg_class
        WHERE relnamespace = 'public'::regnamespace AND relowner <> stack_role AND relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
        ORDER BY relkind = 'S'
    LOOP
        IF (SELECT relowner FROM pg_class WHERE oid = item.name) <> stack_role THEN
            EXECUTE format('ALTER %%s %%s OWNER TO %%I', CASE item.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, item.name, %(role)s);
        END IF;
    END LOOP;
    FOR item IN SELECT t.oid::regtype AS name FROM pg_type t LEFT JOIN pg_class c ON c.oid = t.typrelid
        WHERE t.typnamespace = 'public'::regnamespace AND t.typowner <> stack_role AND (t.typtype IN ('e', 'd', 'r') OR c.relkind = 'c')
    LOOP
        EXECUTE format('ALTER TYPE %%s OWNER TO %%I', item.name, %(role)s);
    END LOOP;
    FOR item IN SELECT oid::regprocedure AS name FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND proowner <> stack_role
    LOOP
        EXECUTE format('ALTER ROUTINE %%s OWNER TO %%I', item.name, %(role)s);
    END LOOP;
END $$"""


def ensure_database(admin: str, password: str) -> None:
    """Create what is missing of the stack's group, role and database, and (at every `up`, which
    makes it re-run safe) set the role's password, membership and ownerships."""
    if importlib.util.find_spec("asyncpg") is None:
        raise RuntimeError("PostgreSQL needs asyncpg in the venv: Airflow's api-server opens an async engine")
    # Builds statements only for a PostgreSQL stack.
    from psycopg2 import sql
    from sqlalchemy.engine import make_url

    database = make_url(admin).database
    role = role_name(database)
    names = {"role": sql.Identifier(role), "group": sql.Identifier(PASSWORD_GROUP), "db": sql.Identifier(database)}
    conn = connect(admin, "postgres")
    try:
        with conn.cursor() as cur:
            cur.execute(CREATE_GROUP)
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
            verb = "ALTER" if cur.fetchone() else "CREATE"
            statement = sql.SQL(verb + " ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %s")
            cur.execute(statement.format(**names), (scram_verifier(password),))
            cur.execute(sql.SQL("GRANT {group} TO {role}").format(**names))
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {db} OWNER {role}").format(**names))
            else:
                cur.execute(sql.SQL("ALTER DATABASE {db} OWNER TO {role}").format(**names))
    finally:
        conn.close()
    conn = connect(admin, database)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("ALTER SCHEMA public OWNER TO {role}").format(**names))
            cur.execute(HAND_OVER, {"role": role})
    finally:
        conn.close()


def drop_database(admin: str) -> None:
    """Drop the stack's database, then its role (the group stays: other stacks are in it)."""
    # Builds statements only for a PostgreSQL stack.
    from psycopg2 import sql
    from sqlalchemy.engine import make_url

    database = make_url(admin).database
    conn = connect(admin, "postgres")
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
            cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role_name(database))))
    finally:
        conn.close()
