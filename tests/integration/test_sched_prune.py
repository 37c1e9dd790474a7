"""Prune in bounded batches: each call deletes a bounded set, skipping rows workers lock."""

from __future__ import annotations

import psycopg
import pytest

from .conftest import Database

pytestmark = pytest.mark.integration

OLD = "2000-01-01T00:00:00Z"


def sweep(db: Database, **params: object) -> tuple[int, list[int]]:
    """Run batches until the end of the table; return total deleted and each batch's count."""
    api = db.api()
    page, counts = 0, []
    while True:
        (row,) = api.rpc(
            "sj_prune_batch_v1", {"p_older_than_seconds": 86400, "p_from_page": page, **params}
        )
        counts.append(row["deleted"])
        page = row["next_page"]
        if page >= row["total_pages"]:
            return sum(counts), counts


def test_batches_are_bounded_and_delete_exactly_the_old_finished_rows(db: Database) -> None:
    old = set(db.add_jobs(2500, status="completed", finished_at=OLD))
    old |= set(db.add_jobs(100, status="failed", updated_at=OLD))  # legacy: no finished_at
    kept = set(db.add_jobs(300, status="completed"))  # finished_at null, updated now
    kept |= set(db.add_jobs(200, status="pending", run_at=OLD, updated_at=OLD))
    kept |= set(db.add_jobs(50, status="cancelled", finished_at=OLD))  # not asked for
    total, counts = sweep(db, p_batch_size=400, p_statuses=["completed", "failed"])
    assert total == len(old)
    assert max(counts) <= 400 and len(counts) >= len(old) // 400
    left = {r["id"] for r in db.admin.execute("select id from public.jobs").fetchall()}
    assert left == kept
    assert (
        db.api().rpc("sj_stats_v1")
        == db.admin.execute(
            "select type, status, count(*)::bigint as count from public.jobs"
            " group by 1, 2 order by 1, 2"
        ).fetchall()
    )


def test_prune_never_waits_for_rows_a_worker_holds(db: Database) -> None:
    ids = db.add_jobs(50, status="completed", finished_at=OLD)
    with psycopg.connect(db.dsn(), autocommit=False) as worker:
        worker.execute("select 1 from public.jobs where id = any(%s) for update", [ids[:10]])
        db.admin.execute("set lock_timeout = '200ms'")  # a wait would raise 55P03
        with db.admin.transaction():
            db.admin.execute("set local role service_role")
            row = db.admin.execute("select * from public.sj_prune_batch_v1(86400)").fetchone()
        assert row is not None and row["deleted"] == 40
    total, _ = sweep(db)
    assert total == 10


def test_prune_batch_refuses_bad_arguments(db: Database) -> None:
    api = db.api()
    for bad in (
        {"p_older_than_seconds": -1},
        {"p_older_than_seconds": 1, "p_statuses": ["pending"]},
        {"p_older_than_seconds": 1, "p_batch_size": 0},
        {"p_older_than_seconds": 1, "p_from_page": -1},
        {"p_older_than_seconds": 1, "p_max_pages": 0},
    ):
        with pytest.raises(psycopg.Error) as info:
            api.rpc("sj_prune_batch_v1", bad)
        assert info.value.sqlstate == "22023"
