"""Databases of their own for tests and benchmarks on a PostgreSQL server: made anew, dropped."""

from __future__ import annotations


def _postgres_admin(url: str, admin_url: str | None) -> tuple[str, str]:
    """(where to connect to create or drop it: admin_url, else the same server's `postgres`
    database; the database name) for a postgresql:// URL."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = admin_url or parsed.set(database="postgres").render_as_string(hide_password=False)
    return admin, str(parsed.database)


def create_postgres_database(url: str, admin_url: str | None = None) -> None:
    """Make the database the URL names anew: dropped first if it exists."""
    import psycopg

    admin, name = _postgres_admin(url, admin_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_postgres_database(url: str, admin_url: str | None = None) -> None:
    import psycopg

    admin, name = _postgres_admin(url, admin_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
