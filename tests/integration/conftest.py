"""Fixtures for tests against a real PostgreSQL the suite starts itself.

One throwaway cluster per session; a template database with the Supabase shim and all
migrations; every test gets its own database cloned from the template (~50 ms), so tests
never see each other's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from supabase_jobs.local._postgres import PostgresServer, bootstrap_database

from ._postgrest_sim import PostgrestSim

TEMPLATE = "sj_template"


class Database:
    """A fresh database with the schema, plus ways to reach it as PostgREST or superuser."""

    def __init__(self, server: PostgresServer, name: str) -> None:
        self.server = server
        self.name = name
        self._open: list[PostgrestSim] = []
        self.admin: psycopg.Connection[dict[str, Any]] = psycopg.connect(
            server.dsn(dbname=name), autocommit=True, row_factory=dict_row
        )

    def dsn(self, user: str = "postgres") -> str:
        """Connection URL for ``user`` on this database."""
        return self.server.dsn(user=user, dbname=self.name)

    def api(self, role: str = "service_role", claims: dict[str, Any] | None = None) -> PostgrestSim:
        """A PostgREST-like client as ``role`` (closed at teardown)."""
        sim = PostgrestSim(self.dsn("authenticator"), role=role, claims=claims)
        self._open.append(sim)
        return sim

    def add_jobs(self, n: int = 1, **columns: Any) -> list[uuid.UUID]:
        """Insert ``n`` jobs as superuser (defaults: a fixed tenant, type ``test_job``)."""
        columns.setdefault("tenant_id", uuid.UUID(int=1))
        columns.setdefault("type", "test_job")
        names = list(columns)
        query = psycopg.sql.SQL(
            "insert into public.jobs ({}) select {} from generate_series(1, %s) returning id"
        ).format(
            psycopg.sql.SQL(", ").join(psycopg.sql.Identifier(c) for c in names),
            psycopg.sql.SQL(", ").join(psycopg.sql.Placeholder() for _ in names),
        )
        rows = self.admin.execute(query, [*columns.values(), n]).fetchall()
        return [row["id"] for row in rows]

    def job(self, job_id: uuid.UUID) -> dict[str, Any]:
        """Read one job as superuser."""
        row = self.admin.execute("select * from public.jobs where id = %s", [job_id]).fetchone()
        assert row is not None
        return row

    def expire(self, *job_ids: uuid.UUID) -> None:
        """Move the given leases into the past instead of sleeping."""
        self.admin.execute(
            "update public.jobs set locked_until = now() - interval '1 second' where id = any(%s)",
            [list(job_ids)],
        )

    def close(self) -> None:
        for sim in self._open:
            sim.close()
        self.admin.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def template_db(pg_server: PostgresServer) -> str:
    bootstrap_database(pg_server.create_database(TEMPLATE))
    return TEMPLATE


@pytest.fixture
def db(pg_server: PostgresServer, template_db: str) -> Iterator[Database]:
    name = f"t_{uuid.uuid4().hex[:16]}"
    pg_server.create_database(name, template=template_db)
    database = Database(pg_server, name)
    try:
        yield database
    finally:
        database.close()
        with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
            conn.execute(
                psycopg.sql.SQL("drop database {} with (force)").format(
                    psycopg.sql.Identifier(name)
                )
            )
