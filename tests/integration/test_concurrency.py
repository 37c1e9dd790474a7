"""Many workers at once: no job runs twice, none is lost; one idempotency key, one row."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

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
    clients = [db.api() for _ in range(50)]
    start = threading.Barrier(len(clients))
    row = {
        "tenant_id": str(uuid.UUID(int=7)),
        "type": "document_export",
        "payload": {"doc": 1},
        "idempotency_key": "export-2026-11-29",
    }

    def dispatch(api: PostgrestSim) -> list[dict[str, Any]]:
        start.wait()
        return api.insert(
            [row], on_conflict=("tenant_id", "idempotency_key"), ignore_duplicates=True
        )

    with ThreadPoolExecutor(len(clients)) as pool:
        results = list(pool.map(dispatch, clients))
    assert sorted(len(r) for r in results) == [0] * 49 + [1]
    stored = db.admin.execute("select id from public.jobs").fetchall()
    assert [s["id"] for s in stored] == [r[0]["id"] for r in results if r]
    # Another tenant may reuse the key; no key at all never conflicts.
    other = {**row, "tenant_id": str(uuid.UUID(int=8))}
    assert (
        len(
            clients[0].insert(
                [other, {**row, "idempotency_key": None}, {**row, "idempotency_key": None}]
            )
        )
        == 3
    )
