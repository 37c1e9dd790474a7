"""sj_claim_v1: eligibility, order, filters, exhausted jobs, and a race with a rollback."""

from __future__ import annotations

import uuid
from datetime import timedelta

import psycopg
import pytest

from ._helpers import raises_sqlstate
from .conftest import Database

pytestmark = pytest.mark.integration


def test_claim_leases_the_job(db: Database) -> None:
    (job_id,) = db.add_jobs(1)
    (job,) = db.api().rpc("sj_claim_v1", {"p_worker_id": "w1", "p_lease_seconds": 90})
    assert job["id"] == job_id
    assert job["status"] == "processing" and job["worker_id"] == "w1"
    assert job["attempts"] == 1 and isinstance(job["lease_id"], uuid.UUID)
    assert job["locked_until"] - job["heartbeat_at"] == timedelta(seconds=90)
    assert job["started_at"] == job["heartbeat_at"] == job["updated_at"]
    assert db.job(job_id)["lease_id"] == job["lease_id"]
    assert db.api().rpc("sj_claim_v1", {"p_worker_id": "w2"}) == []


def test_order_is_priority_then_run_at_then_id(db: Database) -> None:
    low = db.add_jobs(2, priority=-5)
    high = db.add_jobs(1, priority=50)
    older = db.add_jobs(1, run_at="2020-01-01T00:00:00Z")
    same = sorted(db.add_jobs(3, run_at="2021-01-01T00:00:00Z"))
    rows = db.api().rpc("sj_claim_v1", {"p_worker_id": "w", "p_limit": 100})
    assert [r["id"] for r in rows[:5]] == [*high, *older, *same]
    assert {r["id"] for r in rows[5:]} == set(low)


def test_future_and_finished_jobs_are_not_claimed(db: Database) -> None:
    db.add_jobs(2, run_at="2999-01-01T00:00:00Z")
    for status in ("completed", "failed", "cancelled"):
        db.add_jobs(1, status=status)
    due = db.add_jobs(1)
    rows = db.api().rpc("sj_claim_v1", {"p_worker_id": "w", "p_limit": 10})
    assert [r["id"] for r in rows] == due


def test_filters_never_touch_other_types_or_queues(db: Database) -> None:
    a_default = db.add_jobs(3, type="a")
    a_other = db.add_jobs(3, type="a", queue="other")
    b_default = db.add_jobs(3, type="b")
    # b jobs whose leases ran out with no attempts left: only an unfiltered claim may fail them.
    dead_b = db.add_jobs(
        2,
        type="b",
        status="processing",
        attempts=5,
        lease_id=str(uuid.uuid4()),
        locked_until="2020-01-01T00:00:00Z",
        worker_id="gone",
    )
    api = db.api()
    rows = api.rpc("sj_claim_v1", {"p_worker_id": "w", "p_limit": 100, "p_types": ["a"]})
    assert {r["id"] for r in rows} == set(a_default + a_other)
    assert all(db.job(j)["status"] == "pending" for j in b_default)
    assert all(db.job(j)["status"] == "processing" for j in dead_b)
    rows = api.rpc("sj_claim_v1", {"p_worker_id": "w", "p_limit": 100, "p_queues": ["other"]})
    assert rows == []
    rows = api.rpc("sj_claim_v1", {"p_worker_id": "w", "p_types": ["b"], "p_queues": ["default"]})
    assert {r["id"] for r in rows} == set(b_default)
    assert all(db.job(j)["status"] == "failed" for j in dead_b)


def test_exhausted_rows_never_take_a_slot(db: Database) -> None:
    # The 20 oldest rows lost their last lease; 15 younger ones are due.
    dead = db.add_jobs(
        20,
        status="processing",
        attempts=3,
        max_attempts=3,
        lease_id=str(uuid.uuid4()),
        locked_until="2020-01-01T00:00:00Z",
        run_at="2020-01-01T00:00:00Z",
        worker_id="w0",
    )
    alive = db.add_jobs(15)
    rows = db.api().rpc("sj_claim_v1", {"p_worker_id": "w", "p_limit": 10})
    assert len(rows) == 10 and {r["id"] for r in rows} <= set(alive)
    for job_id in dead:
        job = db.job(job_id)
        assert job["status"] == "failed" and job["attempts"] == 3
        assert job["last_error"] == "lease expired" and job["finished_at"] is not None
        assert job["errors"][-1]["error"] == {"type": "LeaseExpired", "message": "lease expired"}
    over = db.admin.execute("select count(*) as n from public.jobs where attempts > max_attempts")
    assert over.fetchone() == {"n": 0}


def test_expired_lease_is_rescued_with_a_new_lease(db: Database) -> None:
    (job_id,) = db.add_jobs(1)
    api = db.api()
    (first,) = api.rpc("sj_claim_v1", {"p_worker_id": "w1"})
    db.expire(job_id)
    (second,) = api.rpc("sj_claim_v1", {"p_worker_id": "w2"})
    assert second["id"] == job_id and second["lease_id"] != first["lease_id"]
    assert second["attempts"] == 2 and second["worker_id"] == "w2"
    assert second["errors"] == [
        {
            "attempt": 1,
            "at": second["errors"][0]["at"],
            "worker_id": "w1",
            "error": {"type": "LeaseExpired", "message": "lease expired"},
        }
    ]


def test_race_for_one_row_and_rollback(db: Database) -> None:
    (job_id,) = db.add_jobs(1)
    first, second = db.api(), db.api()
    with first.conn.transaction() as outer:
        (row,) = first.rpc("sj_claim_v1", {"p_worker_id": "first"})
        assert row["id"] == job_id
        # Still uncommitted: the row is locked, the other claimer skips it.
        assert second.rpc("sj_claim_v1", {"p_worker_id": "second"}) == []
        raise psycopg.Rollback(outer)
    (row,) = second.rpc("sj_claim_v1", {"p_worker_id": "second"})
    assert row["id"] == job_id and row["worker_id"] == "second" and row["attempts"] == 1


@pytest.mark.parametrize(
    "args",
    [
        {"p_worker_id": "w", "p_limit": 0},
        {"p_worker_id": "w", "p_limit": 1001},
        {"p_worker_id": ""},
        {"p_worker_id": "x" * 256},
        {"p_worker_id": "w", "p_lease_seconds": 0},
        {"p_worker_id": "w", "p_lease_seconds": 86401},
    ],
)
def test_bad_arguments_are_rejected(db: Database, args: dict[str, object]) -> None:
    raises_sqlstate("22023", lambda: db.api().rpc("sj_claim_v1", args))
