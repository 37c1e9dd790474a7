"""Concurrency caps per tenant and per queue, enforced inside the claim."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter
from typing import Any

import psycopg
import pytest

from ._helpers import raises_sqlstate
from .conftest import Database

pytestmark = pytest.mark.integration

TENANTS = [uuid.UUID(int=i + 1) for i in range(8)]
LIVE = (
    "select tenant_id, count(*) as n from public.jobs where status = 'processing'"
    " and locked_until >= now() and queue = %s group by tenant_id"
)


def run_claimers(db: Database, *, claimers: int, queue: str, total: int) -> list[Counter[Any]]:
    """16-ish threads claim and complete until ``total`` jobs are done; a sampler polls the
    live processing count per tenant the whole time. Returns every sample."""
    stop = threading.Event()
    samples: list[Counter[Any]] = []
    done: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def sampler() -> None:
        with psycopg.connect(db.dsn(), autocommit=True) as conn:
            while not stop.is_set():
                rows = conn.execute(LIVE, [queue]).fetchall()
                samples.append(Counter({r[0]: r[1] for r in rows}))
                # Fold the stats deltas while claims commit: counts must stay exact.
                conn.execute("select public.sj_stats_fold_v1()")

    def claimer(n: int) -> None:
        try:
            api = db.api()
            rng = random.Random(n)
            while not stop.is_set():
                rows = api.rpc(
                    "sj_claim_v1",
                    {"p_worker_id": f"w{n}", "p_limit": rng.randint(1, 5), "p_queues": [queue]},
                )
                if not rows:
                    time.sleep(0.005)
                    continue
                time.sleep(rng.random() * 0.01)  # "work" while holding the slots
                items = [{"id": r["id"], "lease_id": r["lease_id"]} for r in rows]
                api.rpc("sj_complete_many_v1", {"p_items": items})
                with lock:
                    done.extend(r["id"] for r in rows)
                    if len(done) >= total:
                        stop.set()
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(claimers)]
    watch = threading.Thread(target=sampler)
    watch.start()
    for t in threads:
        t.start()
    deadline = time.monotonic() + 240
    while not stop.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    for t in [*threads, watch]:
        t.join(timeout=60)
    assert not errors, errors
    assert len(done) == total and len(set(done)) == total
    exact = db.admin.execute(
        "select type, status, count(*)::bigint as count from public.jobs"
        " group by type, status order by type, status"
    ).fetchall()
    assert db.api().rpc("sj_stats_v1") == exact
    return samples


@pytest.mark.slow
def test_per_tenant_cap_holds_under_sixteen_concurrent_claimers(db: Database) -> None:
    for tenant in TENANTS:
        db.add_jobs(40, tenant_id=tenant, queue="api")
    special = TENANTS[0]
    api = db.api()
    api.rpc("sj_set_queue_limits_v1", {"p_queue": "api", "p_max_running_per_tenant": 3})
    api.rpc(
        "sj_set_queue_limits_v1",
        {"p_queue": "api", "p_tenant_id": special, "p_max_running_per_tenant": 1},
    )
    samples = run_claimers(db, claimers=16, queue="api", total=40 * len(TENANTS))
    assert len(samples) > 20
    peak = Counter[Any]()
    for sample in samples:
        for tenant, n in sample.items():
            peak[tenant] = max(peak[tenant], n)
    assert peak[special] <= 1, peak
    assert max(peak.values()) <= 3, peak
    assert max(peak.values()) == 3  # the cap is reached, not just respected by idling


@pytest.mark.slow
def test_queue_wide_cap_holds_under_sixteen_concurrent_claimers(db: Database) -> None:
    for tenant in TENANTS:
        db.add_jobs(25, tenant_id=tenant, queue="mail")
    db.api().rpc("sj_set_queue_limits_v1", {"p_queue": "mail", "p_max_running": 5})
    samples = run_claimers(db, claimers=16, queue="mail", total=25 * len(TENANTS))
    totals = [sum(s.values()) for s in samples]
    assert max(totals) <= 5, max(totals)


def test_a_capped_tenant_is_skipped_and_others_are_served(db: Database) -> None:
    busy, other = TENANTS[:2]
    db.add_jobs(10, tenant_id=busy, queue="api", run_at="2000-01-01T00:00:00Z")
    db.add_jobs(10, tenant_id=other, queue="api")
    api = db.api()
    api.rpc("sj_set_queue_limits_v1", {"p_queue": "api", "p_max_running_per_tenant": 2})
    rows = api.rpc("sj_claim_v1", {"p_worker_id": "w", "p_limit": 100})
    assert Counter(r["tenant_id"] for r in rows) == {busy: 2, other: 2}
    assert api.rpc("sj_claim_v1", {"p_worker_id": "w", "p_limit": 100}) == []
    # A claimer holding a tenant's cap lock (mid-claim) makes others skip it, never wait.
    with psycopg.connect(db.dsn(), autocommit=False) as holder:
        holder.execute(
            "select pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"supabase_jobs:tenant:api/{other}"],
        )
        api.rpc("sj_complete_v1", {"p_job_id": rows[0]["id"], "p_lease_id": rows[0]["lease_id"]})
        api.rpc("sj_complete_v1", {"p_job_id": rows[2]["id"], "p_lease_id": rows[2]["lease_id"]})
        got = api.rpc("sj_claim_v1", {"p_worker_id": "w", "p_limit": 100})
        freed = {rows[0]["tenant_id"], rows[2]["tenant_id"]} - {other}
        assert {r["tenant_id"] for r in got} <= freed and len(got) == len(freed)


def test_expired_leases_free_their_slot(db: Database) -> None:
    tenant = TENANTS[0]
    db.add_jobs(3, tenant_id=tenant, queue="api")
    api = db.api()
    api.rpc("sj_set_queue_limits_v1", {"p_queue": "api", "p_max_running_per_tenant": 1})
    (first,) = api.rpc("sj_claim_v1", {"p_worker_id": "w", "p_limit": 10})
    assert api.rpc("sj_claim_v1", {"p_worker_id": "w", "p_limit": 10}) == []
    db.expire(first["id"])
    (second,) = api.rpc("sj_claim_v1", {"p_worker_id": "w2", "p_limit": 10})
    live = db.admin.execute(LIVE, ["api"]).fetchall()
    assert [r["n"] for r in live] == [1]
    # The expired job went back to pending with the lost attempt recorded.
    old = db.job(first["id"])
    if old["status"] == "pending":
        assert old["errors"][-1]["error"]["type"] == "LeaseExpired" and old["lease_id"] is None
    else:  # it was the one re-leased
        assert second["id"] == first["id"] and second["attempts"] == 2


def test_settings_are_service_role_only_and_tenants_read_their_own(db: Database) -> None:
    tenant = TENANTS[0]
    api = db.api()
    api.rpc(
        "sj_set_queue_limits_v1",
        {"p_queue": "api", "p_tenant_id": tenant, "p_max_running_per_tenant": 1},
    )
    api.rpc("sj_set_queue_limits_v1", {"p_queue": "api", "p_max_running": 9})
    raises_sqlstate(
        "22023",
        lambda: api.rpc(
            "sj_set_queue_limits_v1",
            {"p_queue": "api", "p_tenant_id": tenant, "p_max_running": 1},
        ),
    )
    for role in ("anon", "authenticated"):
        raises_sqlstate(
            "42501",
            lambda r=role: db.api(r).rpc(  # type: ignore[misc]
                "sj_set_queue_limits_v1", {"p_queue": "api", "p_max_running": 1}
            ),
        )
    with psycopg.connect(db.dsn(), autocommit=True) as conn:
        conn.execute("set role authenticated")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("insert into public.job_queue_settings (queue) values ('x')")
        conn.execute("set role anon")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select * from public.job_queue_settings")
    assert settings_seen_by(db, tenant) == [tenant]
    assert settings_seen_by(db, TENANTS[1]) == []


def settings_seen_by(db: Database, tenant: uuid.UUID) -> list[Any]:
    """The settings rows an authenticated user of ``tenant`` can read (RLS)."""
    claims = json.dumps({"role": "authenticated", "app_metadata": {"tenant_id": str(tenant)}})
    with psycopg.connect(db.dsn("authenticator")) as conn:
        conn.execute("select set_config('request.jwt.claims', %s, true)", [claims])
        conn.execute("set local role authenticated")
        rows = conn.execute("select tenant_id from public.job_queue_settings").fetchall()
    return [r[0] for r in rows]
