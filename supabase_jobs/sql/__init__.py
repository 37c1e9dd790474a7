"""The SQL that ships with supabase_jobs: migrations, a schema snapshot and a Supabase shim.

Migrations are numbered, forward-only ``.sql`` files in ``migrations/``, valid on hosted
Supabase (PostgreSQL 15 and 17): they create or upgrade ``public.jobs``, its lifecycle
functions (``sj_*_v1``), row level security and grants. ``schema.sql`` is the result of
applying all of them, kept for reading and for ``psql``; a test keeps both in step.
``shim.sql`` makes a plain PostgreSQL look like Supabase (roles, ``auth.*`` helpers, default
grants) and is only for the local stack and tests.

Reading the SQL needs nothing beyond the standard library; applying it needs psycopg
(the ``local`` extra), imported only by the functions that take a connection.

Example:
    >>> import psycopg
    >>> from supabase_jobs import sql
    >>> with psycopg.connect(url) as conn:  # doctest: +SKIP
    ...     sql.apply_migrations(conn)
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

# No driver import at module level: `migrations print` and `migrations export` must work
# with the base install (no [local] extra, so no psycopg). Only the functions that talk to
# a database take a connection, and only they import from psycopg.
if TYPE_CHECKING:
    import psycopg

__all__ = [
    "LEDGER_TABLE",
    "Migration",
    "applied_versions",
    "apply_migrations",
    "apply_shim",
    "migrations",
    "schema_sql",
    "shim_sql",
]

#: Where :func:`apply_migrations` records what it applied (not used by ``supabase db push``,
#: which keeps its own ledger).
LEDGER_TABLE = "supabase_jobs.schema_migrations"

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# One lock key for every apply: two processes migrating at once take turns.
_LOCK_KEY = 0x53_4A_4D_49  # "SJMI"


@dataclass(frozen=True)
class Migration:
    """One forward-only migration file.

    Attributes:
        name: The file name without ``.sql`` (e.g. ``0001_jobs_table``).
        version: The number the name starts with; migrations apply in this order.
        sql: The file's text.
    """

    name: str
    version: int
    sql: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the SQL text, recorded in the ledger."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def _read(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def shim_sql() -> str:
    """Return the Supabase shim for plain PostgreSQL (needs a superuser; never for hosted)."""
    return _read("shim.sql")


def schema_sql() -> str:
    """Return the full current schema (what all migrations produce), as one SQL script."""
    return _read("schema.sql")


def migrations() -> list[Migration]:
    """Return every packaged migration, in version order.

    Raises:
        RuntimeError: A file name does not follow ``NNNN_name.sql`` or a version repeats.
    """
    found: list[Migration] = []
    for entry in resources.files(__name__).joinpath("migrations").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _NAME.match(entry.name)
        if match is None:
            raise RuntimeError(f"bad migration file name: {entry.name}")
        found.append(
            Migration(
                name=entry.name.removesuffix(".sql"),
                version=int(match.group(1)),
                sql=entry.read_text(encoding="utf-8"),
            )
        )
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions: {versions}")
    return found


def apply_shim(conn: psycopg.Connection[Any]) -> None:
    """Apply :func:`shim_sql` to the connected database, in one transaction.

    Args:
        conn: A superuser connection (autocommit or not; the caller's open transaction,
            if any, is reused through a savepoint).
    """
    with conn.transaction():
        conn.execute(shim_sql().encode())


def _ensure_ledger(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        b"create schema if not exists supabase_jobs;"
        b" revoke all on schema supabase_jobs from public;"
        b" create table if not exists supabase_jobs.schema_migrations ("
        b" version integer primary key, name text not null, checksum text not null,"
        b" applied_at timestamptz not null default now())"
    )
    # Not exposed through the API, but RLS on every table all the same. Only when it is off:
    # the ALTER needs ownership, and a ledger another role created must still be usable.
    conn.execute(
        b"do $$ begin"
        b" if not (select relrowsecurity from pg_class"
        b"         where oid = 'supabase_jobs.schema_migrations'::regclass) then"
        b" alter table supabase_jobs.schema_migrations enable row level security;"
        b" end if; end $$"
    )


def applied_versions(conn: psycopg.Connection[Any]) -> set[int]:
    """Return the migration versions the ledger records (empty when there is no ledger)."""
    from psycopg.rows import tuple_row

    # A cursor of its own: the caller's connection may use any row factory.
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(b"select to_regclass('supabase_jobs.schema_migrations') is not null")
        exists = cur.fetchone()
        if exists is None or not exists[0]:
            return set()
        cur.execute(b"select version from supabase_jobs.schema_migrations")
        return {int(row[0]) for row in cur.fetchall()}


def apply_migrations(conn: psycopg.Connection[Any]) -> list[Migration]:
    """Apply every migration not yet recorded in the ledger, each in its own transaction.

    Safe to run again (already applied versions are skipped) and from several processes
    at once (an advisory lock serialises them). The ledger lives in
    ``supabase_jobs.schema_migrations``.

    Args:
        conn: A connection with rights to create tables and functions (``postgres`` on
            Supabase).

    Returns:
        The migrations applied by this call, in order.
    """
    applied: list[Migration] = []
    for migration in migrations():
        with conn.transaction():
            conn.execute(b"select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            _ensure_ledger(conn)
            if migration.version in applied_versions(conn):
                continue
            conn.execute(migration.sql.encode())
            conn.execute(
                b"insert into supabase_jobs.schema_migrations (version, name, checksum)"
                b" values (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
        applied.append(migration)
    return applied
