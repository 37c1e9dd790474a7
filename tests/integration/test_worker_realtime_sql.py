"""Migration 0011: sj_next_due_v1, and wake-ups for jobs due within 5 minutes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from .conftest import Database

pytestmark = pytest.mark.integration

TENANT = str(uuid.UUID(int=11))


def topics(db: Database) -> list[str]:
    rows = db.admin.execute("select topic from realtime.messages order by inserted_at").fetchall()
    return [r["topic"] for r in rows]


def job(queue: str, run_at: str, job_type: str = "test_job") -> dict[str, Any]:
    return {"tenant_id": TENANT, "type": job_type, "queue": queue, "run_at": run_at}


def in_seconds(db: Database, seconds: float) -> str:
    row = db.admin.execute("select (now() + %s * interval '1 s')::text as t", [seconds]).fetchone()
    assert row is not None
    return str(row["t"])


def test_next_due_answers_seconds_until_the_next_future_job_of_those_lanes(db: Database) -> None:
    api = db.api()
    assert api.rpc("sj_next_due_v1", {"p_queues": ["a"], "p_types": ["test_job"]}) is None
    api.insert([job("a", in_seconds(db, 120)), job("a", in_seconds(db, 60))])
    api.insert([job("a", in_seconds(db, 5), job_type="other"), job("b", in_seconds(db, 5))])
    api.insert([job("a", "2000-01-01T00:00:00Z")])  # due now: the claim's business, not ours
    due = api.rpc("sj_next_due_v1", {"p_queues": ["a"], "p_types": ["test_job"]})
    assert 55 < due <= 60
    assert 0 < api.rpc("sj_next_due_v1", {"p_queues": None, "p_types": ["test_job"]}) <= 5
    assert 0 < api.rpc("sj_next_due_v1", {"p_queues": ["a"], "p_types": None}) <= 5
    assert api.rpc("sj_next_due_v1", {"p_queues": ["c"], "p_types": None}) is None


def test_next_due_reads_only_the_pending_partial_index(db: Database) -> None:
    # 20,000 finished rows, 200 pending ones: the lane index skips the finished ones.
    db.admin.execute(
        "insert into public.jobs (tenant_id, type, queue, run_at, status, finished_at)"
        " select %s, 'test_job', 'q' || (g %% 20), now() + interval '1 h', 'completed', now()"
        " from generate_series(1, 20000) g",
        [TENANT],
    )
    db.admin.execute(
        "insert into public.jobs (tenant_id, type, queue, run_at)"
        " select %s, 'test_job', 'q' || (g %% 20), now() + interval '1 h'"
        " from generate_series(1, 200) g",
        [TENANT],
    )
    db.admin.execute("analyze public.jobs")
    # The function's body, as the planner sees it with the worker's arguments.
    plan = "\n".join(
        r["QUERY PLAN"]
        for r in db.admin.execute(
            "explain select min(j.run_at) from public.jobs j where j.status = 'pending'"
            " and j.run_at > now() and j.queue = any(array['q1']) and j.type = any(array['t'])"
        ).fetchall()
    )
    # A pending-partial index led by (queue, type): jobs_lane_idx or jobs_fair_idx (0006).
    assert "Seq Scan" not in plan and ("jobs_lane_idx" in plan or "jobs_fair_idx" in plan), plan


def test_jobs_due_within_five_minutes_wake_and_later_ones_do_not(db: Database) -> None:
    api = db.api()
    api.insert([job("soon", in_seconds(db, 30))])
    api.insert([job("later", in_seconds(db, 3600))])
    assert topics(db) == ["supabase_jobs:queue:soon"]
    db.admin.execute("truncate realtime.messages")
    # A pending job moved earlier into the window (an admin "run now") wakes too.
    db.admin.execute("update public.jobs set run_at = now() where queue = 'later'")
    assert topics(db) == ["supabase_jobs:queue:later"]
