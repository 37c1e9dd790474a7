"""Migrations: applying them in order gives exactly schema.sql; upgrades keep old rows."""

from __future__ import annotations

import re
import uuid
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from supabase_jobs import _constants as C
from supabase_jobs import sql
from supabase_jobs.local._postgres import PostgresServer

from .conftest import Database

pytestmark = pytest.mark.integration

CATALOG_QUERIES = {
    "columns": """
        select a.attnum, a.attname, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid) as default
          from pg_attribute a
          left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
         where a.attrelid = 'public.jobs'::regclass and a.attnum > 0 and not a.attisdropped
         order by a.attnum""",
    "constraints": """
        select conname, contype, pg_get_constraintdef(oid) as def from pg_constraint
         where conrelid = 'public.jobs'::regclass order by conname""",
    "indexes": """
        select indexrelid::regclass::text as name, pg_get_indexdef(indexrelid) as def
          from pg_index where indrelid = 'public.jobs'::regclass order by 1""",
    "table": """
        select relrowsecurity, relforcerowsecurity, relkind, relpersistence from pg_class
         where oid = 'public.jobs'::regclass""",
    "table_grants": """
        select grantee::regrole::text, privilege_type, is_grantable
          from pg_class c, aclexplode(c.relacl) where c.oid = 'public.jobs'::regclass
         order by 1, 2""",
    "policies": """
        select policyname, permissive, roles, cmd, qual, with_check from pg_policies
         where schemaname = 'public' and tablename = 'jobs' order by policyname""",
    "triggers": """
        select tgname, pg_get_triggerdef(oid) from pg_trigger
         where tgrelid = 'public.jobs'::regclass and not tgisinternal order by 1""",
    "functions": """
        select p.oid::regprocedure::text as signature, pg_get_functiondef(p.oid) as def,
               p.prosecdef, p.provolatile, p.proconfig
          from pg_proc p
         where p.pronamespace::regnamespace::text in ('public', 'supabase_jobs')
         order by 1""",
    "function_grants": """
        select p.oid::regprocedure::text, a.grantee, a.privilege_type
          from pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
         where p.pronamespace::regnamespace::text in ('public', 'supabase_jobs')
         order by 1, 2, 3""",
    "private_tables": """
        select c.oid::regclass::text as name, c.relrowsecurity, c.relacl::text,
               pg_get_constraintdef(k.oid) as def
          from pg_class c left join pg_constraint k on k.conrelid = c.oid
         where c.relnamespace::regnamespace::text = 'supabase_jobs' and c.relkind = 'r'
           and c.relname <> 'schema_migrations'
         order by 1, 4""",
}


def catalog(dsn: str) -> dict[str, list[dict[str, Any]]]:
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        return {name: conn.execute(query).fetchall() for name, query in CATALOG_QUERIES.items()}


def fresh(server: PostgresServer, name: str) -> str:
    dsn = server.create_database(name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        sql.apply_shim(conn)
    return dsn


@pytest.fixture(scope="module")
def snapshot_catalog(pg_server: PostgresServer) -> dict[str, list[dict[str, Any]]]:
    dsn = fresh(pg_server, "mig_snapshot")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.schema_sql().encode())
    return catalog(dsn)


def test_migrations_in_order_equal_schema_sql(
    pg_server: PostgresServer, snapshot_catalog: dict[str, list[dict[str, Any]]]
) -> None:
    dsn = fresh(pg_server, "mig_ordered")
    with psycopg.connect(dsn, autocommit=True) as conn:
        applied = sql.apply_migrations(conn)
    assert [m.version for m in applied] == [m.version for m in sql.migrations()]
    migrated = catalog(dsn)
    # 11 lifecycle, 2 worker (0005), 8 scheduling (0006), sj_wake_v1 (0007), 5 dispatch (0008),
    # 1 lookup (0009), next due (0011)
    assert len(migrated["functions"]) == 29
    for name in CATALOG_QUERIES:
        assert migrated[name] == snapshot_catalog[name], name


def test_apply_migrations_twice_applies_nothing(pg_server: PostgresServer) -> None:
    dsn = fresh(pg_server, "mig_twice")
    with psycopg.connect(dsn) as conn:  # not autocommit: transactions nest as savepoints
        first = sql.apply_migrations(conn)
        conn.commit()
        assert sql.apply_migrations(conn) == []
        assert sql.applied_versions(conn) == {m.version for m in first}
        rows = conn.execute("select name, checksum from supabase_jobs.schema_migrations").fetchall()
    assert sorted(rows) == sorted((m.name, m.checksum) for m in sql.migrations())


LEGACY_TABLE = """
create table public.jobs (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null,
  type text not null,
  status text not null default 'pending'
    check (status in ('pending', 'processing', 'completed', 'failed')),
  payload jsonb not null default '{}',
  attempts int not null default 0,
  worker_id text,
  created_at timestamptz not null default now()
);
insert into public.jobs (tenant_id, type, status, attempts, worker_id) values
  ('00000000-0000-0000-0000-000000000001', 'video_ingestion', 'pending', 0, null),
  ('00000000-0000-0000-0000-000000000001', 'ai_generation', 'processing', 1, 'old-worker'),
  ('00000000-0000-0000-0000-000000000002', 'document_export', 'failed', 7, 'old-worker');
"""


def test_upgrading_the_existing_app_table(
    pg_server: PostgresServer, snapshot_catalog: dict[str, list[dict[str, Any]]]
) -> None:
    dsn = fresh(pg_server, "mig_legacy")
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        conn.execute(LEGACY_TABLE.encode())
        sql.apply_migrations(conn)
        rows = conn.execute("select * from public.jobs order by type").fetchall()
    assert [r["type"] for r in rows] == ["ai_generation", "document_export", "video_ingestion"]
    running, failed, pending = rows
    # The old in-flight job got a lease the claim path can rescue once it runs out.
    assert running["lease_id"] is not None and running["locked_until"] is not None
    assert failed["max_attempts"] == 7 and failed["attempts"] == 7
    assert pending["queue"] == "default" and pending["errors"] == []
    upgraded = catalog(dsn)
    for name in CATALOG_QUERIES:
        assert upgraded[name] == snapshot_catalog[name], name


def test_migration_files_are_numbered_and_hosted_safe() -> None:
    found = sql.migrations()
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    forbidden = re.compile(
        r"\b(create|alter|drop)\s+(role|user|extension)\b|\bbypassrls\b|\bsecurity\s+definer\b"
        r"|\balter\s+system\b|\bsuperuser\b",
        re.IGNORECASE,
    )
    for migration in found:
        assert migration.sql.startswith(f"-- {migration.version:04d} "), migration.name
        code = re.sub(r"--[^\n]*", "", migration.sql)  # comments may name what they avoid
        assert not forbidden.search(code), migration.name
    assert "create role" in sql.shim_sql()


def test_check_constraints_repeat_the_sdk_limits(
    snapshot_catalog: dict[str, list[dict[str, Any]]],
) -> None:
    defs = {c["conname"]: c["def"] for c in snapshot_catalog["constraints"]}
    assert str(C.HARD_MAX_PAYLOAD_BYTES) in defs["jobs_payload_check"]
    assert f">= '{C.MIN_PRIORITY}'::integer" in defs["jobs_priority_check"]
    assert f"<= {C.MAX_PRIORITY}" in defs["jobs_priority_check"]
    assert f"<= {C.MAX_MAX_ATTEMPTS}" in defs["jobs_max_attempts_check"]
    assert f"<= {C.MAX_IDEMPOTENCY_KEY_LENGTH}" in defs["jobs_idempotency_key_check"]
    assert f"<= {C.MAX_WORKER_ID_LENGTH}" in defs["jobs_worker_id_check"]
    columns = {c["attname"]: c for c in snapshot_catalog["columns"]}
    assert columns["queue"]["default"] == f"'{C.DEFAULT_QUEUE}'::text"
    assert columns["max_attempts"]["default"] == str(C.DEFAULT_MAX_ATTEMPTS)
    assert columns["priority"]["default"] == str(C.DEFAULT_PRIORITY)


NAME_SAMPLES = [
    "",
    "a",
    "z",
    "A",
    "1a",
    "_a",
    "a_b.c:d-e",
    "a b",
    "a\n",
    "a\nb",
    "ab$",
    "é",
    "aé",
    "a/b",
    "a" * 62,
    "a" * 63,
    "a" * 64,
    "a" * 126,
    "a" * 127,
    "a" * 128,
    "b" + "9" * 126,
    "b" + "9" * 127,
]


@pytest.mark.parametrize(
    ("constraint", "column", "pattern"),
    [
        ("jobs_type_check", "type", C.TYPE_NAME_PATTERN),
        ("jobs_queue_check", "queue", C.QUEUE_NAME_PATTERN),
    ],
)
def test_name_checks_accept_exactly_the_sdk_patterns(
    db: Database, constraint: str, column: str, pattern: str
) -> None:
    """The CHECKs avoid the slow bounded regex but must accept the same strings as the SDK's."""
    with psycopg.connect(db.dsn()) as conn:
        expr = conn.execute(
            "select pg_get_expr(conbin, conrelid) from pg_constraint"
            " where conrelid = 'public.jobs'::regclass and conname = %s",
            [constraint],
        ).fetchone()
        assert expr is not None
        # The CHECK expression runs over a derived table whose one column has the checked name.
        query = (
            f"select {column}, coalesce(({expr[0]}), false), {column} ~ %s"
            f" from unnest(%s::text[]) as t({column})"
        )
        for sample, check, expected in conn.execute(query.encode(), [pattern, NAME_SAMPLES]):
            assert check == expected, sample
    assert sum(bool(re.fullmatch(pattern, s)) for s in NAME_SAMPLES) >= 5


MESSY_LEGACY_TABLE = """
create table public.tenants (id uuid primary key);
insert into public.tenants values ('00000000-0000-0000-0000-000000000001');
create table public.jobs (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references public.tenants (id),
  type text not null,
  status text not null,
  payload jsonb not null default '{}',
  attempts int not null default 0,
  worker_id text,
  created_at timestamptz not null default now(),
  updated_at timestamptz,
  constraint jobs_status_valid check (status in ('pending', 'processing', 'completed', 'failed'))
);
create function public.touch_updated_at() returns trigger language plpgsql as $$
begin new.updated_at := now(); return new; end $$;
create trigger jobs_touch before update on public.jobs
  for each row execute function public.touch_updated_at();
insert into public.jobs (tenant_id, type, status, attempts) values
  ('00000000-0000-0000-0000-000000000001', 'video_ingestion', 'pending', 0),
  ('00000000-0000-0000-0000-000000000001', 'ai_generation', 'pending', 5);
"""


def test_upgrading_a_messy_legacy_table(pg_server: PostgresServer) -> None:
    """Another status CHECK name, no status default, a nullable updated_at with a trigger,
    a foreign key, and a pending row whose attempts already reach the default budget."""
    dsn = fresh(pg_server, "mig_messy")
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        conn.execute(MESSY_LEGACY_TABLE.encode())
        sql.apply_migrations(conn)
        assert sql.apply_migrations(conn) == []
        # Every old job is claimable, including the one with 5 attempts already spent.
        claimed = conn.execute("select * from public.sj_claim_v1('w', 10)").fetchall()
        assert sorted(r["type"] for r in claimed) == ["ai_generation", "video_ingestion"]
        assert all(r["attempts"] <= r["max_attempts"] for r in claimed)
        # The old CHECK named jobs_status_valid is gone: 'cancelled' is accepted.
        cancelled = conn.execute(
            "select * from public.sj_cancel_v1(%s)", [claimed[0]["id"]]
        ).fetchone()
        assert cancelled is not None and cancelled["status"] == "cancelled"
        # A dispatch that leaves status (and updated_at) to their defaults.
        row = conn.execute(
            "insert into public.jobs (tenant_id, type)"
            " values ('00000000-0000-0000-0000-000000000001', 'x') returning *"
        ).fetchone()
        assert row is not None and row["status"] == "pending" and row["updated_at"] is not None
        nulls = conn.execute("select count(*) as n from public.jobs where updated_at is null")
        assert nulls.fetchone() == {"n": 0}


@pytest.mark.parametrize(
    ("ddl", "message"),
    [
        (
            "create table public.jobs (id bigint generated always as identity primary key,"
            " tenant_id uuid not null, type text not null, status text not null default"
            " 'pending', payload jsonb not null default '{}', attempts int not null default 0,"
            " worker_id text, created_at timestamptz not null default now())",
            "id is bigint (needs uuid)",
        ),
        (
            "create table public.jobs (id uuid primary key, tenant_id uuid not null,"
            " type text not null, status text not null, payload json not null,"
            " created_at timestamptz not null default now())",
            "payload is json (needs jsonb); attempts is missing (needs integer);"
            " worker_id is missing (needs text)",
        ),
        (
            "create table public.jobs (id uuid primary key, tenant_id uuid not null,"
            " type text not null, status text not null, payload jsonb not null default '{}',"
            " attempts int not null default 0, worker_id text,"
            " created_at timestamptz not null default now(), priority text)",
            "priority is text (needs integer)",
        ),
    ],
)
def test_incompatible_legacy_table_fails_clearly_and_changes_nothing(
    pg_server: PostgresServer, ddl: str, message: str
) -> None:
    dsn = fresh(pg_server, f"mig_bad_{uuid.uuid4().hex[:12]}")
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        conn.execute(ddl.encode())
        before = catalog(dsn)
        with pytest.raises(psycopg.Error) as info:
            sql.apply_migrations(conn)
        assert message in str(info.value)
        assert catalog(dsn) == before
        if "priority" not in message:  # the checks in 0001 run before anything is recorded
            assert sql.applied_versions(conn) == set()


def test_migrations_run_as_a_hosted_like_postgres_role(pg_server: PostgresServer) -> None:
    """On hosted Supabase ``postgres`` is not a superuser: the migrations must not need one."""
    dsn = fresh(pg_server, "mig_hosted")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "do $$ begin if not exists (select from pg_roles where rolname = 'sj_hosted') then"
            " create role sj_hosted login nosuperuser createdb createrole bypassrls;"
            " end if; end $$"
        )
        conn.execute("grant create on database mig_hosted to sj_hosted")
        conn.execute("grant usage, create on schema public to sj_hosted")
        conn.execute("grant usage on schema auth to sj_hosted")  # as Supabase grants postgres
    with psycopg.connect(
        pg_server.dsn(user="sj_hosted", dbname="mig_hosted"), autocommit=True
    ) as conn:
        applied = sql.apply_migrations(conn)
        assert [m.version for m in applied] == [m.version for m in sql.migrations()]
        owner = conn.execute(
            "select relowner::regrole::text from pg_class where oid = 'public.jobs'::regclass"
        ).fetchone()
        assert owner == ("sj_hosted",)
