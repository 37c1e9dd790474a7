"""stats() and queue_stats() from maintained counters stay equal to a full count."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from .conftest import Database

pytestmark = pytest.mark.integration

TENANT = uuid.UUID(int=5)
EXACT = (
    "select type, status, count(*)::bigint as count from public.jobs"
    " group by type, status order by type, status"
)


def exact(db: Database) -> list[dict[str, Any]]:
    return db.admin.execute(EXACT).fetchall()


def test_counters_follow_every_kind_of_change(db: Database) -> None:
    api = db.api()
    db.add_jobs(30, type="a")
    db.add_jobs(5, type="b", queue="mail", status="failed")
    api.insert([{"tenant_id": str(TENANT), "type": "b", "queue": "mail"}])
    rows = api.rpc("sj_claim_v1", {"p_worker_id": "w", "p_limit": 12})
    done = [{"id": r["id"], "lease_id": r["lease_id"]} for r in rows[:6]]
    api.rpc("sj_complete_many_v1", {"p_items": done})
    for r in rows[6:9]:
        api.rpc(
            "sj_fail_v1",
            {
                "p_job_id": r["id"],
                "p_lease_id": r["lease_id"],
                "p_error": {"message": "x"},
                "p_retry": False,
            },
        )
    api.rpc("sj_heartbeat_v1", {"p_job_ids": [rows[9]["id"]], "p_lease_ids": [rows[9]["lease_id"]]})
    api.rpc("sj_cancel_v1", {"p_job_id": rows[10]["id"]})
    api.rpc("sj_retry_v1", {"p_job_id": rows[6]["id"]})
    db.admin.execute(
        "update public.jobs set queue = 'other' where type = 'a' and status = 'pending'"
        " and id in (select id from public.jobs where status = 'pending' limit 3)"
    )
    db.admin.execute("delete from public.jobs where status = 'failed' and type = 'b'")
    assert api.rpc("sj_stats_v1") == exact(db)
    assert api.rpc("sj_stats_fold_v1") > 0
    assert db.admin.execute("select count(*) as n from public.job_count_deltas").fetchone() == {
        "n": 0
    }
    assert api.rpc("sj_stats_v1") == exact(db)
    # One tenant: counted over its rows, as before.
    assert (
        api.rpc("sj_stats_v1", {"p_tenant_id": TENANT})
        == db.admin.execute(
            "select type, status, count(*)::bigint as count from public.jobs where tenant_id = %s"
            " group by type, status order by type, status",
            [TENANT],
        ).fetchall()
    )
    db.admin.execute("truncate public.jobs")
    assert api.rpc("sj_stats_v1") == []
    db.add_jobs(2)
    # A write that bypassed the triggers is repaired by a rebuild.
    db.admin.execute("set session_replication_role = replica")
    db.add_jobs(3)
    db.admin.execute("set session_replication_role = origin")
    assert api.rpc("sj_stats_v1")[0]["count"] == 2
    assert db.api().rpc("sj_stats_rebuild_v1") == 5
    assert api.rpc("sj_stats_v1") == exact(db)


def test_queue_stats_for_a_dashboard(db: Database) -> None:
    api = db.api()
    db.add_jobs(4, queue="mail", run_at="2000-01-01T00:00:00Z")
    db.add_jobs(2, queue="mail", run_at="2999-01-01T00:00:00Z")  # scheduled: not "waiting"
    db.add_jobs(3, queue="media", priority=5)
    rows = api.rpc("sj_claim_v1", {"p_worker_id": "w", "p_limit": 5, "p_queues": ["media"]})
    api.rpc(
        "sj_complete_many_v1",
        {"p_items": [{"id": r["id"], "lease_id": r["lease_id"]} for r in rows[:2]]},
    )
    stats = {r["queue"]: r for r in api.rpc("sj_queue_stats_v1")}
    assert set(stats) == {"mail", "media"}
    mail, media = stats["mail"], stats["media"]
    assert (mail["pending"], mail["processing"], mail["completed"]) == (6, 0, 0)
    assert mail["oldest_pending_age_seconds"] > 20 * 365 * 86400
    assert (media["pending"], media["processing"], media["completed"]) == (0, 1, 2)
    assert media["oldest_pending_age_seconds"] is None
    assert media["finished_last_hour"] == 2 and mail["finished_last_hour"] == 0
    assert len(media["finished_per_minute"]) == 61 and media["finished_per_minute"][-1] == 2
    assert sum(media["finished_per_minute"]) == 2
    api.rpc("sj_stats_fold_v1")  # folded buckets read the same
    again = api.rpc("sj_queue_stats_v1")
    for row in [*again, *stats.values()]:
        row.pop("oldest_pending_age_seconds")  # time passes
    assert again == list(stats.values())
