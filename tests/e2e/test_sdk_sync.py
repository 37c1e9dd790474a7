"""The SDK end to end (sync): JobsClient -> supabase-py -> gateway -> PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from supabase_jobs import (
    InvalidStateError,
    JobsClient,
    JobStatus,
    LeaseLostError,
    NotFoundError,
    TransportError,
)
from supabase_jobs.local import LocalStack

pytestmark = pytest.mark.e2e

TENANT_A = "00000000-0000-4000-8000-0000000000a1"
TENANT_B = "00000000-0000-4000-8000-0000000000b1"


def expire_lease(database_url: str, job_id: Any) -> None:
    """Move a lease into the past (instead of sleeping through it)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "update public.jobs set locked_until = now() - interval '1 second' where id = %s",
            [job_id],
        )


def test_dispatch_get_list_and_stats(jobs_client: JobsClient):
    first = jobs_client.dispatch(TENANT_A, "test_job", {"n": 1}, priority=5)
    jobs_client.dispatch(TENANT_A, "ai_generation", {"prompt": "hi"})
    jobs_client.dispatch(TENANT_B, "test_job", {"n": 2})
    assert first.status is JobStatus.PENDING
    assert jobs_client.get(first.id) == first
    listed = jobs_client.list(tenant_id=TENANT_A)
    assert [job.type for job in listed] == ["ai_generation", "test_job"]
    assert [job.id for job in jobs_client.list(type="test_job", status="pending")] != []
    stats = jobs_client.stats()
    assert stats.total == 3
    assert stats.by_status[JobStatus.PENDING] == 3
    assert jobs_client.stats(TENANT_B).total == 1


def test_get_unknown_job_is_not_found(jobs_client: JobsClient):
    with pytest.raises(NotFoundError):
        jobs_client.get(uuid.uuid4())


def test_dispatch_many_thousand_in_input_order(jobs_client: JobsClient, supabase_jobs_clean):
    items = [{"tenant_id": TENANT_A, "type": "test_job", "payload": {"i": i}} for i in range(1000)]
    jobs = jobs_client.dispatch_many(items)
    assert [job.payload["i"] for job in jobs] == list(range(1000))
    with psycopg.connect(supabase_jobs_clean.database_url) as conn:
        assert conn.execute("select count(*) from public.jobs").fetchone() == (1000,)


def test_idempotent_redispatch_returns_the_same_job(jobs_client: JobsClient):
    first = jobs_client.dispatch(TENANT_A, "test_job", {"n": 1}, idempotency_key="order-1")
    again = jobs_client.dispatch(TENANT_A, "test_job", {"n": 99}, idempotency_key="order-1")
    other = jobs_client.dispatch(TENANT_B, "test_job", {"n": 1}, idempotency_key="order-1")
    assert again.id == first.id and again.payload == {"n": 1}
    assert other.id != first.id
    batch = jobs_client.dispatch_many(
        [
            {"tenant_id": TENANT_A, "type": "test_job", "idempotency_key": "order-1"},
            {"tenant_id": TENANT_A, "type": "test_job", "idempotency_key": "order-2"},
        ]
    )
    assert batch[0].id == first.id
    assert len(jobs_client.list(tenant_id=TENANT_A)) == 2


def test_a_key_an_existing_app_already_used_returns_its_job(
    jobs_client: JobsClient, supabase_jobs_clean: LocalStack
):
    # The existing app inserts with ids of its own; the partial unique index refuses the
    # SDK's row for the same tenant and key, and the SDK answers with the app's job.
    with psycopg.connect(supabase_jobs_clean.database_url, autocommit=True) as conn:
        row = conn.execute(
            "insert into public.jobs (tenant_id, type, payload, idempotency_key)"
            " values (%s, 'test_job', '{\"from\": \"app\"}', 'app-1') returning id",
            [TENANT_A],
        ).fetchone()
    assert row is not None
    job = jobs_client.dispatch(TENANT_A, "test_job", {"n": 1}, idempotency_key="app-1")
    assert job.id == row[0] and job.payload == {"from": "app"}
    batch = jobs_client.dispatch_many(
        [
            {"tenant_id": TENANT_A, "type": "test_job", "idempotency_key": "new-1"},
            {"tenant_id": TENANT_A, "type": "test_job", "idempotency_key": "app-1"},
            {"tenant_id": TENANT_A, "type": "test_job"},
        ]
    )
    assert batch[1].id == row[0]
    assert len({j.id for j in batch}) == 3
    assert len(jobs_client.list(tenant_id=TENANT_A)) == 3


def test_claim_heartbeat_complete(jobs_client: JobsClient):
    dispatched = jobs_client.dispatch(TENANT_A, "test_job", {"n": 1})
    (claimed,) = jobs_client.claim("worker-1", limit=5, lease_seconds=60)
    assert (claimed.id, claimed.status, claimed.attempts) == (dispatched.id, "processing", 1)
    renewed = jobs_client.heartbeat(claimed, lease_seconds=120)
    assert renewed.locked_until is not None and claimed.locked_until is not None
    assert renewed.locked_until > claimed.locked_until
    done = jobs_client.complete(claimed, {"ok": True})
    assert (done.status, done.result) == (JobStatus.COMPLETED, {"ok": True})
    assert jobs_client.complete(claimed, {"ok": True}).status is JobStatus.COMPLETED
    assert jobs_client.claim("worker-1") == []


def test_fail_with_retry_then_for_good_then_manual_retry(jobs_client: JobsClient):
    jobs_client.dispatch(TENANT_A, "test_job", {}, max_attempts=3)
    (claimed,) = jobs_client.claim("w")
    retried = jobs_client.fail(claimed, RuntimeError("flaky"), retry_in=0)
    assert (retried.status, retried.last_error) == (JobStatus.PENDING, "flaky")
    (claimed,) = jobs_client.claim("w")
    failed = jobs_client.fail(claimed, "broken", retry=False)
    assert failed.status is JobStatus.FAILED
    assert [entry["error"]["message"] for entry in failed.errors] == ["flaky", "broken"]
    again = jobs_client.retry(failed)
    assert (again.status, again.attempts) == (JobStatus.PENDING, 0)


def test_snooze_keeps_the_attempt(jobs_client: JobsClient):
    jobs_client.dispatch(TENANT_A, "test_job", {})
    (claimed,) = jobs_client.claim("w")
    snoozed = jobs_client.snooze(claimed, timedelta(hours=1))
    assert (snoozed.status, snoozed.attempts) == (JobStatus.PENDING, 0)
    assert jobs_client.claim("w") == []


def test_cancel_and_invalid_state(jobs_client: JobsClient):
    job = jobs_client.dispatch(TENANT_A, "test_job", {})
    cancelled = jobs_client.cancel(job, reason="not needed")
    assert cancelled.status is JobStatus.CANCELLED
    assert jobs_client.cancel(job).status is JobStatus.CANCELLED
    other = jobs_client.dispatch(TENANT_A, "test_job", {})
    (claimed,) = jobs_client.claim("w")
    jobs_client.complete(claimed)
    with pytest.raises(InvalidStateError):
        jobs_client.cancel(other)
    with pytest.raises(NotFoundError):
        jobs_client.cancel(uuid.uuid4())


def test_lease_lost_after_expiry(jobs_client: JobsClient, supabase_jobs_clean: LocalStack):
    jobs_client.dispatch(TENANT_A, "test_job", {})
    (stale,) = jobs_client.claim("slow-worker", lease_seconds=30)
    expire_lease(supabase_jobs_clean.database_url, stale.id)
    (fresh,) = jobs_client.claim("fast-worker")
    assert fresh.id == stale.id and fresh.lease_id != stale.lease_id
    with pytest.raises(LeaseLostError) as info:
        jobs_client.complete(stale)
    assert str(stale.id) in info.value.job_ids
    with pytest.raises(LeaseLostError):
        jobs_client.heartbeat(stale)
    assert jobs_client.complete(fresh).status is JobStatus.COMPLETED


def test_complete_many_reports_lost_leases(jobs_client: JobsClient, supabase_jobs_clean):
    jobs_client.dispatch_many([{"tenant_id": TENANT_A, "type": "test_job"} for _ in range(3)])
    claimed = jobs_client.claim("w", limit=3)
    expire_lease(supabase_jobs_clean.database_url, claimed[0].id)
    jobs_client.claim("thief", limit=1)
    with pytest.raises(LeaseLostError) as info:
        jobs_client.complete_many(claimed)
    assert info.value.job_ids == (str(claimed[0].id),)
    assert {job.id for job in info.value.completed} == {claimed[1].id, claimed[2].id}


def test_stopped_gateway_is_a_typed_transport_error(jobs_client: JobsClient, supabase_jobs_clean):
    stack = supabase_jobs_clean
    job = jobs_client.dispatch(TENANT_A, "test_job", {}, idempotency_key="k-restart")
    stack.gateway.stop()
    try:
        with pytest.raises(TransportError):
            jobs_client.dispatch(TENANT_A, "test_job", {}, idempotency_key="k-restart")
    finally:
        stack.gateway.start()
    again = jobs_client.dispatch(TENANT_A, "test_job", {}, idempotency_key="k-restart")
    assert again.id == job.id
    assert len(jobs_client.list(tenant_id=TENANT_A)) == 1


def test_concurrent_keyed_dispatches_make_one_job_per_key_and_never_raise(
    jobs_client: JobsClient, supabase_jobs_clean: LocalStack
):
    # Threads dispatching the same keys at once, singly and in overlapping batches listed in
    # opposite orders: every call returns the one job per key, none raises or deadlocks.
    keys = [f"race-{i}" for i in range(20)]
    start = threading.Barrier(8)

    def single(key: str) -> list[Any]:
        start.wait()
        return [jobs_client.dispatch(TENANT_A, "test_job", {}, idempotency_key=key).id]

    def batch(order: list[str]) -> list[Any]:
        start.wait()
        items = [{"tenant_id": TENANT_A, "type": "test_job", "idempotency_key": k} for k in order]
        return [job.id for job in jobs_client.dispatch_many(items)]

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(single, keys[0]) for _ in range(4)]
        futures += [pool.submit(batch, keys), pool.submit(batch, keys[::-1])]
        futures += [pool.submit(batch, keys[::2]), pool.submit(batch, keys[1::2])]
        results = [f.result() for f in futures]
    listed = jobs_client.list(tenant_id=TENANT_A, limit=100)
    stored = {j.idempotency_key or "": j.id for j in listed}
    assert len(listed) == len(keys) and sorted(stored) == sorted(keys)
    assert {ids[0] for ids in results[:4]} == {stored[keys[0]]}
    assert results[4] == [stored[k] for k in keys]
    assert results[5] == [stored[k] for k in keys[::-1]]
    assert results[6] == [stored[k] for k in keys[::2]]
    assert results[7] == [stored[k] for k in keys[1::2]]


def test_a_key_freed_by_an_edit_is_stored_again(
    jobs_client: JobsClient, supabase_jobs_clean: LocalStack
):
    # Someone renamed a keyed job's key by hand: its derived id is taken, its key free.
    first = jobs_client.dispatch(TENANT_A, "test_job", {"n": 1}, idempotency_key="edit-me")
    with psycopg.connect(supabase_jobs_clean.database_url, autocommit=True) as conn:
        conn.execute("update public.jobs set idempotency_key = 'renamed' where id = %s", [first.id])
    second = jobs_client.dispatch(TENANT_A, "test_job", {"n": 2}, idempotency_key="edit-me")
    third = jobs_client.dispatch(TENANT_A, "test_job", {"n": 3}, idempotency_key="edit-me")
    assert second.id != first.id and third.id == second.id and second.payload == {"n": 2}
    assert len(jobs_client.list(tenant_id=TENANT_A)) == 2
