"""cancel, retry, stats and prune."""

from __future__ import annotations

import uuid

import pytest

from ._helpers import raises_sqlstate
from .conftest import Database

pytestmark = pytest.mark.integration

TENANT_A = uuid.UUID(int=0xA)
TENANT_B = uuid.UUID(int=0xB)


def test_cancel_states(db: Database) -> None:
    pending, done, failed = (
        db.add_jobs(1)[0],
        db.add_jobs(1, status="completed")[0],
        db.add_jobs(1, status="failed")[0],
    )
    api = db.api()
    first = api.rpc("sj_cancel_v1", {"p_job_id": pending})
    assert first["status"] == "cancelled" and first["finished_at"] is not None
    assert first["last_error"] is None
    assert api.rpc("sj_cancel_v1", {"p_job_id": pending, "p_reason": "again"}) == first
    for job_id in (done, failed):
        raises_sqlstate("SJ003", lambda j=job_id: api.rpc("sj_cancel_v1", {"p_job_id": j}))  # type: ignore[misc]
    raises_sqlstate("SJ002", lambda: api.rpc("sj_cancel_v1", {"p_job_id": uuid.uuid4()}))


def test_retry_states(db: Database) -> None:
    (job_id,) = db.add_jobs(1, max_attempts=1)
    api = db.api()
    (job,) = api.rpc("sj_claim_v1", {"p_worker_id": "w"})
    raises_sqlstate("SJ003", lambda: api.rpc("sj_retry_v1", {"p_job_id": job_id}))
    api.rpc(
        "sj_fail_v1",
        {"p_job_id": job_id, "p_lease_id": job["lease_id"], "p_error": {"message": "x"}},
    )
    retried = api.rpc("sj_retry_v1", {"p_job_id": job_id, "p_run_at": "2000-01-01T00:00:00Z"})
    assert retried["status"] == "pending" and retried["attempts"] == 0
    assert retried["finished_at"] is None and len(retried["errors"]) == 1
    assert api.rpc("sj_retry_v1", {"p_job_id": job_id}) == retried
    (job,) = api.rpc("sj_claim_v1", {"p_worker_id": "w"})
    assert job["id"] == job_id
    api.rpc("sj_complete_v1", {"p_job_id": job_id, "p_lease_id": job["lease_id"]})
    raises_sqlstate("SJ003", lambda: api.rpc("sj_retry_v1", {"p_job_id": job_id}))
    raises_sqlstate("SJ002", lambda: api.rpc("sj_retry_v1", {"p_job_id": uuid.uuid4()}))
    (cancelled,) = db.add_jobs(1, status="cancelled")
    assert api.rpc("sj_retry_v1", {"p_job_id": cancelled})["status"] == "pending"


def test_stats_by_type_and_status(db: Database) -> None:
    db.add_jobs(3, tenant_id=TENANT_A, type="a")
    db.add_jobs(2, tenant_id=TENANT_A, type="b", status="failed")
    db.add_jobs(4, tenant_id=TENANT_B, type="a")
    api = db.api()
    everyone = api.rpc("sj_stats_v1")
    assert everyone == [
        {"type": "a", "status": "pending", "count": 7},
        {"type": "b", "status": "failed", "count": 2},
    ]
    only_b = api.rpc("sj_stats_v1", {"p_tenant_id": TENANT_B})
    assert only_b == [{"type": "a", "status": "pending", "count": 4}]


def test_prune_deletes_only_old_finished_jobs(db: Database) -> None:
    old = "2000-01-01T00:00:00Z"
    gone = db.add_jobs(2, status="completed", finished_at=old)
    gone += db.add_jobs(1, status="cancelled", finished_at=old)
    gone += db.add_jobs(1, status="failed", updated_at=old)  # legacy row: no finished_at
    kept = db.add_jobs(1, status="completed")  # finished_at null, updated now
    kept += db.add_jobs(1, status="completed", finished_at="2999-01-01T00:00:00Z")
    kept += db.add_jobs(1, created_at=old, run_at=old, updated_at=old)  # pending: never pruned
    api = db.api()
    only_failed = api.rpc("sj_prune_v1", {"p_older_than_seconds": 86400, "p_statuses": ["failed"]})
    assert only_failed == 1
    assert api.rpc("sj_prune_v1", {"p_older_than_seconds": 86400}) == 3
    rows = db.admin.execute("select id from public.jobs").fetchall()
    assert {r["id"] for r in rows} == set(kept)
    assert not set(gone) & {r["id"] for r in rows}
    for bad in (
        {"p_older_than_seconds": -1},
        {"p_older_than_seconds": 1e12},
        {"p_older_than_seconds": 1, "p_statuses": ["pending"]},
        {"p_older_than_seconds": 1, "p_statuses": []},
    ):
        raises_sqlstate("22023", lambda b=bad: api.rpc("sj_prune_v1", b))  # type: ignore[misc]
