"""Migration 0005: per-item heartbeats and releases, fenced by lease, safe to re-send."""

from __future__ import annotations

from typing import Any

import pytest

from ._helpers import raises_sqlstate
from .conftest import Database

pytestmark = pytest.mark.integration


def claim(db: Database, n: int = 1, worker: str = "w", lease: int = 30) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = db.api().rpc(
        "sj_claim_v1", {"p_worker_id": worker, "p_limit": n, "p_lease_seconds": lease}
    )
    return rows


def beat(db: Database, jobs: list[dict[str, Any]], lease: int = 60) -> dict[str, bool]:
    rows = db.api().rpc(
        "sj_heartbeat_many_v1",
        {
            "p_job_ids": [j["id"] for j in jobs],
            "p_lease_ids": [j["lease_id"] for j in jobs],
            "p_lease_seconds": lease,
        },
    )
    return {str(r["job_id"]): r["held"] for r in rows}


def release(db: Database, *items: dict[str, Any]) -> dict[str, bool]:
    rows = db.api().rpc("sj_release_many_v1", {"p_items": list(items)})
    return {str(r["job_id"]): r["applied"] for r in rows}


def snooze(job: dict[str, Any], delay: float = 0) -> dict[str, Any]:
    return {"id": str(job["id"]), "lease_id": str(job["lease_id"]), "action": "snooze",
            "delay_seconds": delay}  # fmt: skip


def cancel(job: dict[str, Any], reason: str | None = "stop") -> dict[str, Any]:
    return {"id": str(job["id"]), "lease_id": str(job["lease_id"]), "action": "cancel",
            "reason": reason}  # fmt: skip


def test_heartbeat_many_renews_held_leases_and_reports_lost_ones(db: Database) -> None:
    db.add_jobs(3)
    a, b, c = claim(db, 3, lease=30)
    db.api().rpc("sj_cancel_v1", {"p_job_id": b["id"]})  # cancelled from outside
    db.expire(c["id"])
    (c2,) = claim(db, 1, worker="other")  # expired and taken over
    assert c2["id"] == c["id"]
    before = db.job(a["id"])["locked_until"]
    answer = beat(db, [a, b, c], lease=600)
    assert answer == {str(a["id"]): True, str(b["id"]): False, str(c["id"]): False}
    assert db.job(a["id"])["locked_until"] > before  # renewed despite the lost ones
    assert db.job(c["id"])["lease_id"] == c2["lease_id"]  # the new owner is untouched
    assert db.job(c["id"])["worker_id"] == "other"


def test_release_snooze_gives_the_attempt_back_and_a_resend_is_applied(db: Database) -> None:
    (job_id,) = db.add_jobs(1)
    (job,) = claim(db)
    assert db.job(job_id)["attempts"] == 1
    assert release(db, snooze(job, 120)) == {str(job_id): True}
    row = db.job(job_id)
    assert (row["status"], row["attempts"], row["locked_until"]) == ("pending", 0, None)
    assert (row["run_at"] - row["updated_at"]).total_seconds() == pytest.approx(120, abs=1)
    # The first reply was lost: the same request again changes nothing and says applied.
    assert release(db, snooze(job, 120)) == {str(job_id): True}
    assert db.job(job_id)["attempts"] == 0 and db.job(job_id)["run_at"] == row["run_at"]


def test_release_hand_back_is_claimable_at_once(db: Database) -> None:
    (job_id,) = db.add_jobs(1)
    (job,) = claim(db)
    release(db, snooze(job, 0))
    (again,) = claim(db, worker="w2")
    assert again["id"] == job_id and again["attempts"] == 1
    assert again["lease_id"] != job["lease_id"]
    # The stale lease can neither snooze nor cancel the job it no longer holds.
    assert release(db, snooze(job), cancel(again | {"lease_id": job["lease_id"]})) == {
        str(job_id): False
    }
    assert db.job(job_id)["status"] == "processing"


def test_release_cancel_is_final_and_fenced(db: Database) -> None:
    db.add_jobs(2)
    a, b = claim(db, 2)
    a_id, b_id = a["id"], b["id"]
    db.expire(b_id)
    claim(db, 1, worker="thief")
    answer = release(db, cancel(a, "source deleted"), cancel(b))
    assert answer == {str(a_id): True, str(b_id): False}
    row = db.job(a_id)
    assert (row["status"], row["last_error"], row["attempts"]) == ("cancelled", "source deleted", 1)
    assert row["finished_at"] is not None
    assert db.job(b_id)["status"] == "processing"
    assert release(db, cancel(a, "source deleted")) == {str(a_id): True}  # re-sent
    # A completion under the settled lease is refused.
    raises_sqlstate(
        "SJ001",
        lambda: db.api().rpc("sj_complete_v1", {"p_job_id": a_id, "p_lease_id": a["lease_id"]}),
    )


def test_release_rejects_malformed_items(db: Database) -> None:
    (job_id,) = db.add_jobs(1)
    (job,) = claim(db)
    for bad in (
        {**snooze(job), "action": "complete"},
        {**snooze(job), "delay_seconds": -1},
        {**cancel(job), "reason": 5},
        {"id": str(job_id)},
    ):
        raises_sqlstate("22023", lambda b=bad: release(db, b))  # type: ignore[misc]
    assert db.job(job_id)["status"] == "processing"


def test_heartbeat_many_rejects_mismatched_arrays(db: Database) -> None:
    (job,) = (db.add_jobs(1), claim(db))[1]
    raises_sqlstate(
        "22023",
        lambda: db.api().rpc("sj_heartbeat_many_v1", {"p_job_ids": [job["id"]], "p_lease_ids": []}),
    )
