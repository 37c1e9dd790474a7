"""Leases fence every write: stale workers change nothing; heartbeats keep a job alive."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import psycopg
import pytest

from ._helpers import lost_ids, raises_sqlstate
from .conftest import Database

pytestmark = pytest.mark.integration

ERROR = {"type": "RuntimeError", "message": "boom"}


def claim_one(db: Database, worker: str = "w", lease: int = 30) -> dict[str, Any]:
    (job,) = db.api().rpc("sj_claim_v1", {"p_worker_id": worker, "p_lease_seconds": lease})
    return job


def test_stale_lease_changes_nothing_after_rescue(db: Database) -> None:
    (job_id,) = db.add_jobs(1)
    stale = claim_one(db, "w1")
    db.expire(job_id)
    fresh = claim_one(db, "w2")
    before = db.job(job_id)
    api, old = db.api(), {"p_job_id": job_id, "p_lease_id": stale["lease_id"]}
    calls: list[tuple[str, dict[str, Any]]] = [
        ("sj_complete_v1", {**old, "p_result": {"late": True}}),
        ("sj_fail_v1", {**old, "p_error": ERROR}),
        ("sj_fail_v1", {**old, "p_error": ERROR, "p_retry": False}),
        ("sj_snooze_v1", {**old, "p_run_at": "2030-01-01T00:00:00Z"}),
        ("sj_heartbeat_v1", {"p_job_ids": [job_id], "p_lease_ids": [stale["lease_id"]]}),
    ]
    for name, args in calls:
        error = raises_sqlstate("SJ001", lambda n=name, a=args: api.rpc(n, a))  # type: ignore[misc]
        assert lost_ids(error) == [str(job_id)]
    items = [{"id": job_id, "lease_id": stale["lease_id"], "result": 1}]
    assert api.rpc("sj_complete_many_v1", {"p_items": items}) == []
    fail_items = [{"id": job_id, "lease_id": stale["lease_id"], "error": ERROR}]
    assert api.rpc("sj_fail_many_v1", {"p_items": fail_items}) == []
    assert db.job(job_id) == before
    assert before["lease_id"] == fresh["lease_id"]


def test_unknown_job_is_a_lost_lease(db: Database) -> None:
    ghost = {"p_job_id": uuid.uuid4(), "p_lease_id": uuid.uuid4()}
    raises_sqlstate("SJ001", lambda: db.api().rpc("sj_complete_v1", ghost))


def test_stale_fail_after_newer_attempt_completed(db: Database) -> None:
    (job_id,) = db.add_jobs(1)
    stale = claim_one(db, "w1")
    db.expire(job_id)
    fresh = claim_one(db, "w2")
    api = db.api()
    api.rpc("sj_complete_v1", {"p_job_id": job_id, "p_lease_id": fresh["lease_id"]})
    stale_fail = {"p_job_id": job_id, "p_lease_id": stale["lease_id"], "p_error": ERROR}
    raises_sqlstate("SJ001", lambda: api.rpc("sj_fail_v1", stale_fail))
    assert db.job(job_id)["status"] == "completed"


def test_completion_wins_the_race_with_rescue(db: Database) -> None:
    (job_id,) = db.add_jobs(1)
    job = claim_one(db)
    db.expire(job_id)
    worker, rescuer = db.api(), db.api()
    with worker.conn.transaction():
        done = worker.rpc("sj_complete_v1", {"p_job_id": job_id, "p_lease_id": job["lease_id"]})
        assert done["status"] == "completed"
        # The completion holds the row lock: the rescuing claim skips the row.
        assert rescuer.rpc("sj_claim_v1", {"p_worker_id": "rescuer"}) == []
    assert rescuer.rpc("sj_claim_v1", {"p_worker_id": "rescuer"}) == []
    assert db.job(job_id)["status"] == "completed"


def wait_for_lock(db: Database, needle: str) -> None:
    """Block until a backend running ``needle`` waits on a lock (bounded, then fails)."""
    for _ in range(1000):
        row = db.admin.execute(
            "select count(*) as n from pg_stat_activity"
            " where wait_event_type = 'Lock' and query like %s",
            [f"%{needle}%"],
        ).fetchone()
        if row is not None and row["n"] > 0:
            return
        time.sleep(0.01)
    raise AssertionError(f"nothing running {needle} ever waited on a lock")


def test_rescue_wins_the_race_with_completion(db: Database) -> None:
    (job_id,) = db.add_jobs(1)
    job = claim_one(db)
    db.expire(job_id)
    worker, rescuer = db.api(), db.api()
    outcome: list[BaseException | dict[str, Any]] = []

    def complete() -> None:
        args = {"p_job_id": job_id, "p_lease_id": job["lease_id"]}
        try:
            outcome.append(worker.rpc("sj_complete_v1", args))
        except psycopg.Error as exc:
            outcome.append(exc)

    with rescuer.conn.transaction():
        (rescued,) = rescuer.rpc("sj_claim_v1", {"p_worker_id": "rescuer"})
        thread = threading.Thread(target=complete)
        thread.start()
        # Let the completion reach the row lock the rescuer holds, then commit the rescue.
        wait_for_lock(db, "sj_complete_v1")
    thread.join(timeout=30)
    assert len(outcome) == 1
    error = outcome[0]
    assert isinstance(error, psycopg.Error) and error.sqlstate == "SJ001"
    current = db.job(job_id)
    assert current["status"] == "processing" and current["lease_id"] == rescued["lease_id"]


def test_repeated_complete_by_the_same_lease_is_success(db: Database) -> None:
    ids = db.add_jobs(3)
    api = db.api()
    jobs = api.rpc("sj_claim_v1", {"p_worker_id": "w", "p_limit": 3})
    first = api.rpc(
        "sj_complete_v1",
        {"p_job_id": jobs[0]["id"], "p_lease_id": jobs[0]["lease_id"], "p_result": {"n": 1}},
    )
    again = api.rpc(
        "sj_complete_v1", {"p_job_id": jobs[0]["id"], "p_lease_id": jobs[0]["lease_id"]}
    )
    assert again == first and again["result"] == {"n": 1}
    items = [{"id": j["id"], "lease_id": j["lease_id"], "result": None} for j in jobs]
    items.append({"id": jobs[1]["id"], "lease_id": uuid.uuid4(), "result": None})  # not held
    done = api.rpc("sj_complete_many_v1", {"p_items": items})
    assert sorted(r["id"] for r in done) == sorted(ids)
    assert all(r["status"] == "completed" and r["locked_until"] is None for r in done)


def test_heartbeat_keeps_a_job_alive_and_a_silent_one_is_rescued(db: Database) -> None:
    (alive_id, silent_id) = db.add_jobs(2)
    api = db.api()
    jobs = {j["id"]: j for j in api.rpc("sj_claim_v1", {"p_worker_id": "w", "p_limit": 2})}
    alive, silent = jobs[alive_id], jobs[silent_id]
    for _ in range(3):
        db.expire(alive_id)  # time passes up to the end of the lease...
        (beat,) = api.rpc(
            "sj_heartbeat_v1",
            {"p_job_ids": [alive_id], "p_lease_ids": [alive["lease_id"]], "p_lease_seconds": 60},
        )  # ...and the heartbeat extends it before anyone else claims
        assert beat["lease_id"] == alive["lease_id"]
        assert api.rpc("sj_claim_v1", {"p_worker_id": "other", "p_types": ["nothing"]}) == []
    db.expire(silent_id)
    (rescued,) = api.rpc("sj_claim_v1", {"p_worker_id": "other", "p_limit": 10})
    assert rescued["id"] == silent_id and rescued["lease_id"] != silent["lease_id"]
    assert db.job(alive_id)["lease_id"] == alive["lease_id"]


def test_heartbeat_is_all_or_nothing(db: Database) -> None:
    (kept_id, lost_id) = db.add_jobs(2)
    api = db.api()
    jobs = {j["id"]: j for j in api.rpc("sj_claim_v1", {"p_worker_id": "w", "p_limit": 2})}
    db.expire(lost_id)
    claim_one(db, "thief")
    before = db.job(kept_id)
    args = {
        "p_job_ids": [kept_id, lost_id],
        "p_lease_ids": [jobs[kept_id]["lease_id"], jobs[lost_id]["lease_id"]],
    }
    error = raises_sqlstate("SJ001", lambda: api.rpc("sj_heartbeat_v1", args))
    assert lost_ids(error) == [str(lost_id)]
    assert db.job(kept_id) == before
    bad = {"p_job_ids": [kept_id], "p_lease_ids": []}
    raises_sqlstate("22023", lambda: api.rpc("sj_heartbeat_v1", bad))


def test_cancel_revokes_a_running_lease(db: Database) -> None:
    (job_id,) = db.add_jobs(1)
    job = claim_one(db)
    api = db.api()
    cancelled = api.rpc("sj_cancel_v1", {"p_job_id": job_id, "p_reason": "user asked"})
    assert cancelled["status"] == "cancelled" and cancelled["lease_id"] is None
    assert cancelled["last_error"] == "user asked"
    args = {"p_job_id": job_id, "p_lease_id": job["lease_id"]}
    raises_sqlstate("SJ001", lambda: api.rpc("sj_complete_v1", args))
    assert db.job(job_id)["status"] == "cancelled"


def test_repeated_complete_in_one_transaction_is_success(db: Database) -> None:
    # PostgREST never does this, but a plain-SQL caller (or a database function) may complete
    # a job twice in one transaction: the second call must not look like a lost lease.
    (job_id,) = db.add_jobs(1)
    job = claim_one(db)
    call = "select * from public.sj_complete_v1(%s, %s, '{\"n\": 1}')"
    with db.admin.transaction():
        first = db.admin.execute(call, [job_id, job["lease_id"]]).fetchone()
        again = db.admin.execute(call, [job_id, job["lease_id"]]).fetchone()
    assert first is not None and again == first and again["status"] == "completed"


def test_complete_many_in_a_savepoint_returns_each_row_once(db: Database) -> None:
    db.add_jobs(2)
    api = db.api()
    held, other = api.rpc("sj_claim_v1", {"p_worker_id": "w", "p_limit": 2})
    items = [
        {"id": held["id"], "lease_id": held["lease_id"], "result": None},
        {"id": other["id"], "lease_id": uuid.uuid4(), "result": None},  # not held
    ]
    with api.conn.transaction():  # the sim's own transaction becomes a savepoint
        done = api.rpc("sj_complete_many_v1", {"p_items": items})
    assert [r["id"] for r in done] == [held["id"]]
    assert db.job(other["id"])["status"] == "processing"


def test_repeated_terminal_fail_is_success_and_records_once(db: Database) -> None:
    (job_id,) = db.add_jobs(1)
    job = claim_one(db)
    api = db.api()
    args = {"p_job_id": job_id, "p_lease_id": job["lease_id"], "p_error": ERROR, "p_retry": False}
    first = api.rpc("sj_fail_v1", args)
    assert first["status"] == "failed" and first["lease_id"] == job["lease_id"]
    assert api.rpc("sj_fail_v1", args) == first
    items = [{"id": job_id, "lease_id": job["lease_id"], "error": ERROR, "retry": False}]
    assert api.rpc("sj_fail_many_v1", {"p_items": items}) == [first]
    assert len(db.job(job_id)["errors"]) == 1


def test_repeated_retrying_fail_is_lost_and_changes_nothing(db: Database) -> None:
    (job_id,) = db.add_jobs(1)
    job = claim_one(db)
    api = db.api()
    args = {"p_job_id": job_id, "p_lease_id": job["lease_id"], "p_error": ERROR}
    first = api.rpc("sj_fail_v1", args)
    assert first["status"] == "pending" and first["lease_id"] is None
    raises_sqlstate("SJ001", lambda: api.rpc("sj_fail_v1", args))
    assert db.job(job_id) == first


def test_lease_expired_on_last_attempt_revokes_the_lease(db: Database) -> None:
    (job_id,) = db.add_jobs(1, max_attempts=1)
    job = claim_one(db, "w1")
    db.expire(job_id)
    api = db.api()
    assert api.rpc("sj_claim_v1", {"p_worker_id": "w2"}) == []  # fails it: no attempt left
    failed = db.job(job_id)
    assert failed["status"] == "failed" and failed["lease_id"] is None
    # The late worker's own fail is a lost lease, not a repeat of a fail it never made.
    late = {"p_job_id": job_id, "p_lease_id": job["lease_id"], "p_error": ERROR, "p_retry": False}
    raises_sqlstate("SJ001", lambda: api.rpc("sj_fail_v1", late))
    raises_sqlstate(
        "SJ001",
        lambda: api.rpc("sj_complete_v1", {"p_job_id": job_id, "p_lease_id": job["lease_id"]}),
    )
    assert db.job(job_id) == failed
