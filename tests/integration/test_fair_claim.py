"""Fair claiming: within a priority level a claim interleaves tenants (on by default)."""

from __future__ import annotations

import threading
import uuid
from collections import Counter

import pytest

from .conftest import Database

pytestmark = pytest.mark.integration

A = uuid.UUID("00000000-0000-0000-0000-00000000000a")
B = uuid.UUID("00000000-0000-0000-0000-00000000000b")


def big_and_small(db: Database) -> None:
    """Tenant A dispatches 20,000 jobs, then tenant B dispatches 50."""
    db.admin.execute(
        "insert into public.jobs (tenant_id, type, run_at) select %s, 'test_job',"
        " now() - interval '1 hour' + g * interval '1 ms' from generate_series(1, 20000) g",
        [A],
    )
    db.add_jobs(50, tenant_id=B)
    db.admin.execute("analyze public.jobs")


def claim_tenants(db: Database, limit: int = 100) -> Counter[uuid.UUID]:
    rows = db.api().rpc("sj_claim_v1", {"p_worker_id": "w", "p_limit": limit})
    return Counter(r["tenant_id"] for r in rows)


def test_a_small_tenant_is_not_starved_by_a_big_backlog(db: Database) -> None:
    big_and_small(db)
    first, second = claim_tenants(db), claim_tenants(db)
    assert first[B] + second[B] == 50  # all of B's jobs start within the first 2 claims
    assert first == Counter({A: 50, B: 50})  # and A gets the rest of each claim
    assert second[A] == 100 - second[B]
    assert claim_tenants(db) == Counter({A: 100})  # nothing left of B: A takes everything


def test_fairness_can_be_switched_off_per_queue(db: Database) -> None:
    big_and_small(db)
    api = db.api()
    api.rpc("sj_set_queue_fair_v1", {"p_queue": "default", "p_fair": False})
    assert claim_tenants(db) == Counter({A: 100})  # plain claim order: A's older jobs first
    api.rpc("sj_set_queue_fair_v1", {"p_queue": "default", "p_fair": True})
    assert claim_tenants(db)[B] == 50
    rows = db.admin.execute("select * from public.job_queue_settings").fetchall()
    assert rows == []  # fair=true is the default: the row is gone again


def test_priority_still_wins_over_fairness(db: Database) -> None:
    db.add_jobs(5, tenant_id=A, priority=10)
    db.add_jobs(5, tenant_id=B, priority=0)
    db.add_jobs(5, tenant_id=uuid.UUID(int=3), priority=10)
    rows = db.api().rpc("sj_claim_v1", {"p_worker_id": "w", "p_limit": 10})
    assert [r["priority"] for r in rows] == [10] * 10


def test_many_tenants_each_claim_serves_many_of_them(db: Database) -> None:
    # 1,000 tenants, the first one with a big head start: claims still spread out.
    db.admin.execute(
        "insert into public.jobs (tenant_id, type, run_at) select"
        " ('00000000-0000-0000-0000-' || lpad((g % 1000)::text, 12, '0'))::uuid, 'test_job',"
        " now() - interval '1 hour' from generate_series(1, 5000) g"
    )
    db.add_jobs(2000, tenant_id=uuid.UUID(int=0), run_at="2000-01-01T00:00:00Z")
    seen = claim_tenants(db)
    assert sum(seen.values()) == 100
    assert len(seen) >= 20  # a walk of up to 25 tenants, about 4 jobs each
    assert max(seen.values()) <= 100 - 20


def test_concurrent_fair_claims_never_lease_a_job_twice(db: Database) -> None:
    for tenant in range(40):
        db.add_jobs(50, tenant_id=uuid.UUID(int=tenant))
    leased: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        api = db.api()
        while rows := api.rpc("sj_claim_v1", {"p_worker_id": f"w{n}", "p_limit": 37}):
            with lock:
                leased.extend(r["id"] for r in rows)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(leased) == 2000 and len(set(leased)) == 2000
