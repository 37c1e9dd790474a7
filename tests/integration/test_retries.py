"""fail / snooze: exponential backoff with jitter, attempt budget, error history."""

from __future__ import annotations

from typing import Any

import pytest

from ._helpers import raises_sqlstate
from .conftest import Database

pytestmark = pytest.mark.integration


def make_due(db: Database) -> None:
    """Move every pending job's run_at into the past instead of sleeping through backoff."""
    db.admin.execute(
        "update public.jobs set run_at = now() - interval '1 second' where status = 'pending'"
    )


def test_backoff_grows_until_max_attempts_then_failed(db: Database) -> None:
    (job_id,) = db.add_jobs(1, max_attempts=5)
    api = db.api()
    delays: list[float] = []
    for attempt in range(1, 6):
        make_due(db)
        (job,) = api.rpc("sj_claim_v1", {"p_worker_id": f"w{attempt}"})
        assert job["attempts"] == attempt
        error = {"type": "ValueError", "message": f"attempt {attempt} failed"}
        failed = api.rpc(
            "sj_fail_v1", {"p_job_id": job_id, "p_lease_id": job["lease_id"], "p_error": error}
        )
        if attempt < 5:
            assert failed["status"] == "pending" and failed["lease_id"] is None
            delay = (failed["run_at"] - failed["updated_at"]).total_seconds()
            base = 5 * 2 ** (attempt - 1)
            assert 0.75 * base <= delay <= 1.25 * base
            delays.append(delay)
    assert delays == sorted(delays) and len(set(delays)) == 4
    assert failed["status"] == "failed" and failed["finished_at"] is not None
    assert failed["last_error"] == "attempt 5 failed"
    history = failed["errors"]
    assert [e["attempt"] for e in history] == [1, 2, 3, 4, 5]
    assert [e["worker_id"] for e in history] == ["w1", "w2", "w3", "w4", "w5"]
    assert history[0]["error"] == {"type": "ValueError", "message": "attempt 1 failed"}
    make_due(db)
    db.admin.execute("update public.jobs set run_at = now() - interval '1 day'")
    assert api.rpc("sj_claim_v1", {"p_worker_id": "late"}) == []


def test_backoff_is_capped_at_one_hour(db: Database) -> None:
    (job_id,) = db.add_jobs(1, max_attempts=100, attempts=40)
    api = db.api()
    (job,) = api.rpc("sj_claim_v1", {"p_worker_id": "w"})
    failed = api.rpc(
        "sj_fail_v1",
        {"p_job_id": job_id, "p_lease_id": job["lease_id"], "p_error": {"message": "x"}},
    )
    delay = (failed["run_at"] - failed["updated_at"]).total_seconds()
    # The cap applies after the jitter: never longer than an hour.
    assert 3599 <= delay <= 3600
    assert failed["errors"][0]["error"] == {"type": None, "message": "x"}


def test_explicit_retry_delay_and_no_retry(db: Database) -> None:
    db.add_jobs(2)
    api = db.api()
    first, second = api.rpc("sj_claim_v1", {"p_worker_id": "w", "p_limit": 2})
    error = {"type": None, "message": "m"}
    later = api.rpc(
        "sj_fail_v1",
        {
            "p_job_id": first["id"],
            "p_lease_id": first["lease_id"],
            "p_error": error,
            "p_retry_in_seconds": 42.5,
        },
    )
    assert (later["run_at"] - later["updated_at"]).total_seconds() == 42.5
    final = api.rpc(
        "sj_fail_v1",
        {
            "p_job_id": second["id"],
            "p_lease_id": second["lease_id"],
            "p_error": error,
            "p_retry": False,
        },
    )
    assert final["status"] == "failed" and final["attempts"] == 1


def test_fail_many_omits_lost_items(db: Database) -> None:
    db.add_jobs(2)
    api = db.api()
    held, other = api.rpc("sj_claim_v1", {"p_worker_id": "w", "p_limit": 2})
    items: list[dict[str, Any]] = [
        {
            "id": held["id"],
            "lease_id": held["lease_id"],
            "error": {"type": "E", "message": "a"},
            "retry": True,
            "retry_in_seconds": 0,
        },
        {"id": other["id"], "lease_id": held["lease_id"], "error": {"type": "E", "message": "b"}},
    ]
    rows = api.rpc("sj_fail_many_v1", {"p_items": items})
    assert [r["id"] for r in rows] == [held["id"]]
    assert rows[0]["status"] == "pending" and rows[0]["run_at"] == rows[0]["updated_at"]
    assert db.job(other["id"])["status"] == "processing"


@pytest.mark.parametrize(
    "error",
    [None, "boom", {"type": "E"}, {"message": 1}, {"type": 5, "message": "m"}],
)
def test_malformed_errors_are_rejected(db: Database, error: object) -> None:
    db.add_jobs(1)
    api = db.api()
    (job,) = api.rpc("sj_claim_v1", {"p_worker_id": "w"})
    args = {"p_job_id": job["id"], "p_lease_id": job["lease_id"], "p_error": error}
    raises_sqlstate("22023", lambda: api.rpc("sj_fail_v1", args))
    assert db.job(job["id"])["status"] == "processing"


def test_long_messages_are_truncated(db: Database) -> None:
    db.add_jobs(1)
    api = db.api()
    (job,) = api.rpc("sj_claim_v1", {"p_worker_id": "w"})
    error = {"type": "T" * 300, "message": "m" * 5000}
    failed = api.rpc(
        "sj_fail_v1", {"p_job_id": job["id"], "p_lease_id": job["lease_id"], "p_error": error}
    )
    assert len(failed["last_error"]) == 4000
    assert len(failed["errors"][0]["error"]["type"]) == 255


def test_snooze_does_not_spend_an_attempt(db: Database) -> None:
    (job_id,) = db.add_jobs(1, max_attempts=1)
    api = db.api()
    for _ in range(3):
        (job,) = api.rpc("sj_claim_v1", {"p_worker_id": "w"})
        assert job["attempts"] == 1
        snoozed = api.rpc(
            "sj_snooze_v1",
            {"p_job_id": job_id, "p_lease_id": job["lease_id"], "p_run_at": "2000-01-01T00:00:00Z"},
        )
        assert snoozed["status"] == "pending" and snoozed["attempts"] == 0
        assert snoozed["lease_id"] is None and snoozed["locked_until"] is None
    (job,) = api.rpc("sj_claim_v1", {"p_worker_id": "w"})
    api.rpc(
        "sj_snooze_v1",
        {"p_job_id": job_id, "p_lease_id": job["lease_id"], "p_run_at": "2999-01-01T00:00:00Z"},
    )
    assert api.rpc("sj_claim_v1", {"p_worker_id": "w"}) == []
