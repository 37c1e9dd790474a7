"""sj_claim_v1's scans: running jobs cost a claim nothing; rescued jobs keep the claim order."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from .conftest import Database

pytestmark = pytest.mark.integration

FAR_PAST = "2020-01-01T00:00:00Z"
FAR_FUTURE = "2999-01-01T00:00:00Z"


def _running(**columns: Any) -> dict[str, Any]:
    """Columns of a job some worker holds (or held: pass an expired ``locked_until``)."""
    return {
        "status": "processing",
        "attempts": 1,
        "lease_id": str(uuid.uuid4()),
        "worker_id": "busy",
        "locked_until": FAR_FUTURE,
        **columns,
    }


def _claim_buffers(db: Database, limit: int) -> int:
    """Shared buffers one claim of ``limit`` touches (the function's statements included).

    Counted by EXPLAIN (ANALYZE, BUFFERS): a page count, not a duration, so the result does
    not depend on the machine's speed or load.
    """
    # The first call in a session plans the function's statement and fills the catalog
    # caches, whose reads would count too: pay for that on a claim that matches nothing.
    db.admin.execute("select * from public.sj_claim_v1('warmup', 1, 300, array['no_such_type'])")
    row = db.admin.execute(
        "explain (analyze, buffers, format json)"
        f" select * from public.sj_claim_v1('w', {int(limit)})"
    ).fetchone()
    assert row is not None
    plan: dict[str, Any] = row["QUERY PLAN"][0]["Plan"]
    assert plan["Actual Rows"] == limit
    hit: int = plan["Shared Hit Blocks"]
    read: int = plan["Shared Read Blocks"]
    return hit + read


def test_claim_cost_does_not_grow_with_running_jobs(db: Database) -> None:
    # 5,000 in-flight jobs, older than every pending one (so first in claim order), whose
    # leases are all live. With running rows in the claim index every claim read past all of
    # them (~5,200 buffers here); a claim that neither scans them nor checks each one's lease
    # touches ~180, most of them to lease the 10 rows. The bound leaves room both ways.
    db.add_jobs(5000, **_running(run_at=FAR_PAST))
    pending = set(db.add_jobs(1000))
    db.admin.execute("vacuum analyze public.jobs")
    buffers = _claim_buffers(db, 10)
    assert buffers < 1000, f"a claim of 10 touched {buffers} buffers"
    leased = db.admin.execute(
        "select id from public.jobs where worker_id = 'w' and status = 'processing'"
    ).fetchall()
    assert len(leased) == 10 and {r["id"] for r in leased} <= pending


def test_rescued_jobs_compete_in_claim_order(db: Database) -> None:
    (high_stale,) = db.add_jobs(1, **_running(priority=10, locked_until=FAR_PAST, worker_id="w0"))
    (low_stale,) = db.add_jobs(1, **_running(priority=-10, locked_until=FAR_PAST))
    (live,) = db.add_jobs(1, **_running(priority=50))
    pending = sorted(db.add_jobs(3, run_at="2021-01-01T00:00:00Z"))
    api = db.api()
    rows = api.rpc("sj_claim_v1", {"p_worker_id": "w", "p_limit": 2})
    assert [r["id"] for r in rows] == [high_stale, pending[0]]
    rescued = rows[0]
    assert rescued["attempts"] == 2 and rescued["last_error"] == "lease expired"
    assert rescued["errors"][-1]["worker_id"] == "w0"
    # The lower-priority expired job lost to the pending one and was left as it was.
    assert db.job(low_stale)["worker_id"] == "busy" and db.job(low_stale)["attempts"] == 1
    rows = api.rpc("sj_claim_v1", {"p_worker_id": "w", "p_limit": 10})
    assert [r["id"] for r in rows] == [*pending[1:], low_stale]
    assert db.job(live)["worker_id"] == "busy"
    assert api.rpc("sj_claim_v1", {"p_worker_id": "w", "p_limit": 10}) == []


def test_filters_apply_to_rescued_jobs(db: Database) -> None:
    (stale_a,) = db.add_jobs(1, **_running(type="a", locked_until=FAR_PAST))
    (stale_b,) = db.add_jobs(1, **_running(type="b", queue="other", locked_until=FAR_PAST))
    api = db.api()
    assert api.rpc("sj_claim_v1", {"p_worker_id": "w", "p_types": ["b"], "p_queues": ["x"]}) == []
    (row,) = api.rpc("sj_claim_v1", {"p_worker_id": "w", "p_types": ["a"]})
    assert row["id"] == stale_a and db.job(stale_b)["worker_id"] == "busy"
    (row,) = api.rpc("sj_claim_v1", {"p_worker_id": "w", "p_queues": ["other"]})
    assert row["id"] == stale_b
