"""Queue and type isolation: a filtered claim reads only its own lanes, whatever the backlog.

Costs are asserted as counts (tuples the claim's transaction fetched, from
pg_stat_xact_user_tables), never as timings.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from .conftest import Database

pytestmark = pytest.mark.integration

BACKLOG = 20_000
OLD = "2000-01-01T00:00:00Z"


def claim_reads(db: Database, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Claim in a transaction as service_role; return the rows and the tuples it fetched.

    A new connection: a backend's not-yet-flushed statistics (what pg_stat_xact_* shows) may
    include its earlier transactions.
    """
    with psycopg.connect(db.dsn(), row_factory=dict_row) as conn:
        conn.execute("set role service_role")
        rows = conn.execute(
            "select * from public.sj_claim_v1(%(w)s, %(limit)s, 300, %(types)s, %(queues)s)",
            {"w": "w", "limit": 100, "types": None, "queues": None, **params},
        ).fetchall()
        stats = conn.execute(
            "select coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0) as n"
            " from pg_stat_xact_user_tables where relid = 'public.jobs'::regclass"
        ).fetchone()
        conn.rollback()
    assert stats is not None
    return rows, int(stats["n"])


@pytest.fixture
def backlog(db: Database) -> Database:
    """20,000 due jobs of type ai_generation in queue default, over 100 tenants."""
    db.admin.execute(
        "insert into public.jobs (tenant_id, type, run_at) select"
        " ('00000000-0000-0000-0000-' || lpad((g %% 100)::text, 12, '0'))::uuid,"
        " 'ai_generation', %s from generate_series(1, %s) g",
        [OLD, BACKLOG],
    )
    db.admin.execute("analyze public.jobs")
    return db


def test_filtered_claim_by_type_skips_the_foreign_backlog(backlog: Database) -> None:
    wanted = set(backlog.add_jobs(30, type="tenant_cleanup", run_at=OLD))
    rows, reads = claim_reads(backlog, types=["tenant_cleanup"])
    assert {r["id"] for r in rows} == wanted
    assert reads < 500, reads  # 20,000 foreign rows were never visited


def test_filtered_claim_by_queue_and_empty_polls_read_nothing_foreign(backlog: Database) -> None:
    wanted = set(backlog.add_jobs(10, queue="mail", run_at=OLD))
    rows, reads = claim_reads(backlog, queues=["mail"])
    assert {r["id"] for r in rows} == wanted and reads < 300, reads
    rows, reads = claim_reads(backlog, queues=["other"])
    assert rows == [] and reads < 50, reads
    rows, reads = claim_reads(backlog, types=["document_export"])
    assert rows == [] and reads < 50, reads
    rows, reads = claim_reads(backlog, queues=["mail", "other"], types=["test_job", "x"])
    assert {r["id"] for r in rows} == wanted and reads < 300, reads


def test_lanes_merge_in_priority_order_and_respect_both_filters(db: Database) -> None:
    tenant = uuid.UUID(int=7)
    low = db.add_jobs(3, queue="a", type="t1", priority=0, tenant_id=tenant, run_at=OLD)
    high = db.add_jobs(2, queue="b", type="t2", priority=5, tenant_id=tenant, run_at=OLD)
    db.add_jobs(4, queue="b", type="t3", priority=9, run_at=OLD)  # type not wanted
    db.add_jobs(4, queue="c", type="t1", priority=9, run_at=OLD)  # queue not wanted
    db.add_jobs(1, queue="a", type="t2", priority=9, run_at="2999-01-01T00:00:00Z")  # not due
    rows = db.api().rpc(
        "sj_claim_v1",
        {"p_worker_id": "w", "p_limit": 4, "p_queues": ["a", "b"], "p_types": ["t1", "t2"]},
    )
    ids = [r["id"] for r in rows]
    assert set(high) <= set(ids) and len(ids) == 4
    assert len(set(ids) & set(low)) == 2
    assert [r["priority"] for r in rows] == [5, 5, 0, 0]
