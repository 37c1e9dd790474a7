"""Many workers at once: no job runs twice, none is lost; one idempotency key, one row."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from supabase_jobs._core import idempotent_job_id

from ._helpers import raises_sqlstate
from ._postgrest_sim import PostgrestSim
from .conftest import Database

pytestmark = pytest.mark.integration

JOBS, CLAIMERS, ROUNDS, LIMIT = 1000, 16, 20, 10


def drain(api: PostgrestSim, worker: str, start: threading.Barrier) -> list[uuid.UUID]:
    """Claim and complete until the queue is empty; return what this worker executed."""
    executed: list[uuid.UUID] = []
    start.wait()
    while True:
        jobs = api.rpc("sj_claim_v1", {"p_worker_id": worker, "p_limit": LIMIT})
        if not jobs:
            return executed
        executed += [j["id"] for j in jobs]
        items = [{"id": j["id"], "lease_id": j["lease_id"], "result": None} for j in jobs]
        done = api.rpc("sj_complete_many_v1", {"p_items": items})
        assert len(done) == len(jobs)


@pytest.mark.slow
def test_claimers_never_duplicate_or_lose_jobs(db: Database) -> None:
    apis = [db.api() for _ in range(CLAIMERS)]
    with ThreadPoolExecutor(CLAIMERS) as pool:
        for round_ in range(ROUNDS):
            inserted = db.add_jobs(JOBS, priority=round_ % 3 - 1)
            start = threading.Barrier(CLAIMERS)
            futures = [pool.submit(drain, api, f"w{i}", start) for i, api in enumerate(apis)]
            executed = Counter(job_id for f in futures for job_id in f.result())
            assert executed == Counter(inserted), f"round {round_}"
            counts = db.admin.execute(
                "select status, max(attempts) as attempts, count(*) as n from public.jobs"
                " group by status"
            ).fetchall()
            assert counts == [{"status": "completed", "attempts": 1, "n": JOBS}]
            db.admin.execute("delete from public.jobs")


def test_concurrent_dispatches_with_one_key_make_one_row(db: Database) -> None:
    # The SDK's keyed insert: the id derived from tenant and key, ON CONFLICT (id) DO NOTHING.
    clients = [db.api() for _ in range(50)]
    start = threading.Barrier(len(clients))
    tenant, key = str(uuid.UUID(int=7)), "export-2026-11-29"
    row = {
        "id": idempotent_job_id(tenant, key),
        "tenant_id": tenant,
        "type": "document_export",
        "payload": {"doc": 1},
        "idempotency_key": key,
    }

    def dispatch(api: PostgrestSim) -> tuple[bool, list[dict[str, Any]]]:
        start.wait()
        try:
            inserted = api.insert([row], on_conflict=("id",), ignore_duplicates=True)
        except psycopg.errors.UniqueViolation:
            # ON CONFLICT (id) is checked before the insert; a concurrent insert of the key
            # that commits while this one waits is refused by the partial unique index
            # instead. The SDK then reads the key, as it does for an empty answer.
            inserted = []
        if inserted:
            return True, inserted
        return False, api.select("tenant_id = %s and idempotency_key = %s", [tenant, key])

    with ThreadPoolExecutor(len(clients)) as pool:
        results = list(pool.map(dispatch, clients))
    assert sum(won for won, _ in results) == 1
    assert {str(r["id"]) for _, rows in results for r in rows} == {row["id"]}
    assert all(len(rows) == 1 for _, rows in results)
    stored = db.admin.execute("select id from public.jobs").fetchall()
    assert [str(s["id"]) for s in stored] == [row["id"]]
    # Another tenant may reuse the key; no key at all never conflicts.
    other_tenant = str(uuid.UUID(int=8))
    other = {**row, "tenant_id": other_tenant, "id": idempotent_job_id(other_tenant, key)}
    unkeyed = {k: v for k, v in row.items() if k not in ("id", "idempotency_key")}
    assert len(clients[0].insert([other])) == 1
    assert len(clients[0].insert([unkeyed, unkeyed])) == 2


def test_the_key_stays_unique_for_writers_that_choose_their_own_ids(db: Database) -> None:
    # The partial unique index: a second job with the same tenant and key is refused whatever
    # its id (an existing app inserting directly), while unkeyed rows never enter it.
    db.add_jobs(1, idempotency_key="k")
    raises_sqlstate("23505", lambda: db.add_jobs(1, idempotency_key="k"))
    db.add_jobs(3)
    entries = db.admin.execute(
        "select count(*) as n from public.jobs where idempotency_key is not null"
    ).fetchone()
    assert entries == {"n": 1}
    index = db.admin.execute(
        "select pg_get_indexdef('public.jobs_tenant_idempotency_key_idx'::regclass) as d"
    ).fetchone()
    assert index is not None and "WHERE (idempotency_key IS NOT NULL)" in index["d"]
