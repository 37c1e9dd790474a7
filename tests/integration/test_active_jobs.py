"""supabase_jobs.active_jobs: the claim's mirror of the live jobs, whoever writes public.jobs.

Every test here also ends with the ``db`` fixture's full mirror check (conftest.py).
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from ._helpers import assert_mirrored, raises_sqlstate
from .conftest import Database

pytestmark = pytest.mark.integration

FAR_PAST = "2020-01-01T00:00:00Z"


def active_ids(db: Database) -> set[uuid.UUID]:
    return {r["id"] for r in db.admin.execute("select id from supabase_jobs.active_jobs")}


def claim(db: Database, limit: int = 10) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = db.api().rpc("sj_claim_v1", {"p_worker_id": "w", "p_limit": limit})
    return rows


def test_the_mirror_check_catches_a_missing_and_an_extra_row(db: Database) -> None:
    (job_id,) = db.add_jobs(1)
    db.admin.execute("delete from supabase_jobs.active_jobs")
    with pytest.raises(AssertionError, match="missing"):
        assert_mirrored(db.admin)
    db.admin.execute(
        "insert into supabase_jobs.active_jobs"
        " (id, type, queue, priority, run_at, attempts, max_attempts)"
        " select id, type, queue, priority + 1, run_at, attempts, max_attempts from public.jobs"
    )
    with pytest.raises(AssertionError, match="extra"):
        assert_mirrored(db.admin)
    db.admin.execute("update supabase_jobs.active_jobs set priority = priority - 1")
    assert_mirrored(db.admin)
    assert active_ids(db) == {job_id}


def test_inserts_by_any_writer_are_mirrored(db: Database) -> None:
    pending = db.add_jobs(3, priority=5, queue="q1", run_at=FAR_PAST)
    (running,) = db.add_jobs(
        1, status="processing", attempts=1, lease_id=uuid.uuid4(), locked_until=FAR_PAST
    )
    (done,) = db.add_jobs(1, status="completed")
    # The SDK's path: PostgREST's INSERT as service_role.
    inserted = db.api().insert([{"tenant_id": str(uuid.UUID(int=1)), "type": "test_job"}] * 2)
    assert_mirrored(db.admin)
    assert active_ids(db) == {*pending, running, *(r["id"] for r in inserted)}
    assert done not in active_ids(db)
    # An existing app's rows are claimable like the SDK's (and the old lease is rescued).
    claimed = {r["id"] for r in claim(db, 100)}
    assert claimed == {*pending, running, *(r["id"] for r in inserted)}


def test_updates_outside_the_functions_are_mirrored(db: Database) -> None:
    a, b, c = db.add_jobs(3)
    db.admin.execute("update public.jobs set status = 'completed' where id = %s", [a])
    db.admin.execute(
        "update public.jobs set priority = 7, run_at = %s where id = %s", [FAR_PAST, b]
    )
    assert_mirrored(db.admin)
    assert active_ids(db) == {b, c}
    # Back to pending (an operator re-running a job by hand): claimable again.
    db.admin.execute("update public.jobs set status = 'pending' where id = %s", [a])
    assert_mirrored(db.admin)
    assert [r["id"] for r in claim(db, 1)] == [b]  # priority 7 first
    # Leases moved by hand (tests' expire(), an operator) are what the claim's rescue reads.
    (leased,) = (r["id"] for r in claim(db, 1))
    db.expire(leased)
    assert_mirrored(db.admin)
    rescued = claim(db, 10)
    assert leased in {r["id"] for r in rescued}
    # A changed id moves its mirror row too.
    new_id = uuid.uuid4()
    db.admin.execute(
        "update public.jobs set id = %s, status = 'pending', lease_id = null, locked_until = null"
        " where id = %s",
        [new_id, leased],
    )
    assert_mirrored(db.admin)


def test_upserts_deletes_and_truncate_are_mirrored(db: Database) -> None:
    tenant = uuid.UUID(int=1)
    (job_id,) = db.add_jobs(1, idempotency_key="k1")
    db.admin.execute(
        "insert into public.jobs (tenant_id, type, idempotency_key) values (%s, 'test_job', 'k1')"
        " on conflict (tenant_id, idempotency_key) do update set priority = 9",
        [tenant],
    )
    assert_mirrored(db.admin)
    row = db.admin.execute("select priority from supabase_jobs.active_jobs").fetchone()
    assert row == {"priority": 9}
    live, finished = db.add_jobs(2)
    db.admin.execute("update public.jobs set status = 'failed' where id = %s", [finished])
    db.admin.execute("delete from public.jobs where id = any(%s)", [[live, finished]])
    assert_mirrored(db.admin)
    assert active_ids(db) == {job_id}
    db.admin.execute("truncate public.jobs")
    assert active_ids(db) == set()


def test_the_functions_flag_never_outlives_a_call(db: Database) -> None:
    # The functions keep active_jobs themselves and tell the update trigger to skip their
    # rows; after the call (or its error) an UPDATE in the same transaction must be mirrored.
    ids = db.add_jobs(3)
    setting = "select current_setting('supabase_jobs.in_function', true) as v"
    with psycopg.connect(db.dsn(), row_factory=dict_row) as conn:
        conn.execute("set role service_role")
        with conn.transaction():
            rows = conn.execute("select * from public.sj_claim_v1('w', 1)").fetchall()
            assert conn.execute(setting).fetchone() in ({"v": ""}, {"v": None})
            conn.execute("update public.jobs set priority = 3 where id = %s", [ids[2]])
            with pytest.raises(psycopg.Error) as info, conn.transaction():
                conn.execute(
                    "select * from public.sj_snooze_v1(%s, %s, 'infinity')",
                    [rows[0]["id"], rows[0]["lease_id"]],
                )
            assert info.value.sqlstate == "22023"
            assert conn.execute(setting).fetchone() in ({"v": ""}, {"v": None})
            conn.execute("update public.jobs set priority = 4 where id = %s", [ids[1]])
            assert_mirrored(conn)
    assert_mirrored(db.admin)


def _updates(conn: psycopg.Connection[Any], statement: str, params: list[Any]) -> list[int]:
    """Run ``statement`` in its own transaction; return [rows updated in jobs, of them HOT].

    Read from PostgreSQL's per-transaction statistics, before and after, inside the
    transaction (the counters of earlier transactions may not be flushed yet).
    """
    counters = (
        "select n_tup_upd, n_tup_hot_upd from pg_stat_xact_user_tables"
        " where relid = 'public.jobs'::regclass"
    )
    with conn.transaction():
        before = conn.execute(counters).fetchone()
        conn.execute(statement, params)
        after = conn.execute(counters).fetchone()
    assert before is not None and after is not None
    return [after[k] - before[k] for k in ("n_tup_upd", "n_tup_hot_upd")]


def _lifecycle_hot_updates(db: Database) -> dict[str, list[int]]:
    """Claim, heartbeat and complete 50 jobs dispatched one after another (so claimed
    together, page by page, the least favourable order); each step's [updates, HOT]."""
    db.admin.execute("truncate public.jobs")
    for i in range(50):
        db.add_jobs(1, payload='{"text": "' + "x" * 300 + '"}', run_at=f"2020-01-01 00:00:{i}")
    db.admin.execute("vacuum public.jobs")
    with psycopg.connect(db.dsn(), row_factory=dict_row, autocommit=True) as conn:
        conn.execute("set role service_role")
        steps: dict[str, list[int]] = {}
        with conn.transaction():
            steps["claim"] = _updates(conn, "select * from public.sj_claim_v1('w', 50)", [])
        jobs = conn.execute(
            "select id, lease_id from public.jobs where status = 'processing'"
        ).fetchall()
        ids, leases = [j["id"] for j in jobs], [j["lease_id"] for j in jobs]
        steps["heartbeat"] = _updates(
            conn, "select * from public.sj_heartbeat_v1(%s, %s)", [ids, leases]
        )
        items = Jsonb(
            [{"id": str(i), "lease_id": str(lease)} for i, lease in zip(ids, leases, strict=True)]
        )
        steps["complete"] = _updates(conn, "select * from public.sj_complete_many_v1(%s)", [items])
    return steps


def test_lifecycle_updates_of_jobs_are_hot(db: Database) -> None:
    # The reason active_jobs exists: no index of jobs covers a column the lifecycle changes,
    # so a claim, heartbeat or completion writes no index entry when the new row version fits
    # on its page (a HOT update), which the table's fillfactor leaves room for. Not every
    # version fits when whole pages are claimed at once, hence "most".
    for step, (updated, hot) in _lifecycle_hot_updates(db).items():
        assert updated == 50 and hot >= 40, (step, updated, hot)
    # The control: with one index on a column all three steps change, none is HOT.
    db.admin.execute("create index jobs_locked_until_idx on public.jobs (locked_until)")
    for step, (updated, hot) in _lifecycle_hot_updates(db).items():
        assert (updated, hot) == (50, 0), step


def test_completions_racing_rescues_never_deadlock(db: Database) -> None:
    # Every function locks a job's active_jobs row before its jobs row. A late complete_many
    # and a claim rescuing the same expired leases, run together many times: each job ends
    # completed by exactly one of them, and no call fails with a deadlock (40P01).
    errors: list[BaseException] = []
    for _ in range(15):
        db.admin.execute("truncate public.jobs")
        db.add_jobs(40)
        jobs = claim(db, 40)
        db.expire(*(j["id"] for j in jobs))
        items = [{"id": str(j["id"]), "lease_id": str(j["lease_id"])} for j in jobs]
        barrier = threading.Barrier(2)
        results: dict[str, list[dict[str, Any]]] = {}

        def run(
            name: str,
            fn: str,
            args: dict[str, Any],
            barrier: threading.Barrier = barrier,
            results: dict[str, list[dict[str, Any]]] = results,
        ) -> None:
            try:
                api = db.api()
                barrier.wait()
                results[name] = api.rpc(fn, args)
            except BaseException as exc:  # reported below, with the thread's error
                errors.append(exc)

        threads = [
            threading.Thread(target=run, args=("late", "sj_complete_many_v1", {"p_items": items})),
            threading.Thread(
                target=run, args=("rescue", "sj_claim_v1", {"p_worker_id": "r", "p_limit": 40})
            ),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        completed = {r["id"] for r in results["late"]}
        rescued = {r["id"] for r in results["rescue"]}
        assert completed.isdisjoint(rescued)
        assert completed | rescued == {j["id"] for j in jobs}
        assert_mirrored(db.admin)


def test_only_service_role_reaches_active_jobs(db: Database) -> None:
    db.add_jobs(1)
    with psycopg.connect(db.dsn("authenticator"), autocommit=True) as conn:
        for role in ("anon", "authenticated"):
            conn.execute(psycopg.sql.SQL("set role {}").format(psycopg.sql.Identifier(role)))
            raises_sqlstate(
                "42501", lambda: conn.execute("select * from supabase_jobs.active_jobs")
            )
            raises_sqlstate("42501", lambda: conn.execute("delete from supabase_jobs.active_jobs"))
        conn.execute("set role service_role")
        assert len(conn.execute("select * from supabase_jobs.active_jobs").fetchall()) == 1
