"""The SDK end to end (async): AsyncJobsClient -> supabase-py -> gateway -> PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import psycopg
import pytest

from supabase_jobs import AsyncJobsClient, JobStatus, LeaseLostError, NotFoundError
from supabase_jobs.local import LocalStack

pytestmark = pytest.mark.e2e

TENANT = "00000000-0000-4000-8000-0000000000c1"


async def test_dispatch_get_list_stats(async_jobs_client: AsyncJobsClient):
    job = await async_jobs_client.dispatch(TENANT, "test_job", {"n": 1})
    assert (await async_jobs_client.get(job.id)).id == job.id
    assert [j.id for j in await async_jobs_client.list(tenant_id=TENANT)] == [job.id]
    assert (await async_jobs_client.stats(TENANT)).by_status[JobStatus.PENDING] == 1
    with pytest.raises(NotFoundError):
        await async_jobs_client.get(uuid.uuid4())


async def test_dispatch_many_thousand(async_jobs_client: AsyncJobsClient):
    items = [{"tenant_id": TENANT, "type": "test_job", "payload": {"i": i}} for i in range(1000)]
    jobs = await async_jobs_client.dispatch_many(items)
    assert [job.payload["i"] for job in jobs] == list(range(1000))
    assert len({job.id for job in jobs}) == 1000


async def test_idempotent_redispatch(async_jobs_client: AsyncJobsClient):
    first = await async_jobs_client.dispatch(TENANT, "test_job", {}, idempotency_key="a-1")
    second = await async_jobs_client.dispatch(TENANT, "test_job", {}, idempotency_key="a-1")
    assert first.id == second.id


async def test_lifecycle(async_jobs_client: AsyncJobsClient):
    await async_jobs_client.dispatch_many(
        [{"tenant_id": TENANT, "type": "test_job", "max_attempts": 2} for _ in range(4)]
    )
    claimed = await async_jobs_client.claim("aw", limit=4, lease_seconds=60)
    assert len(claimed) == 4
    assert {job.status for job in claimed} == {JobStatus.PROCESSING}
    assert all(job.lease_id is not None and job.attempts == 1 for job in claimed)
    renewed = await async_jobs_client.heartbeat(claimed)
    assert sorted(job.id for job in renewed) == sorted(job.id for job in claimed)
    before = {job.id: job.locked_until for job in claimed}
    assert all(
        job.locked_until is not None and job.locked_until >= before[job.id]  # type: ignore[operator]
        for job in renewed
    )
    done = await async_jobs_client.complete(claimed[0], "ok")
    assert (done.status, done.result) == (JobStatus.COMPLETED, "ok")
    failed = await async_jobs_client.fail(claimed[1], ValueError("bad"), retry=False)
    assert (failed.status, failed.last_error) == (JobStatus.FAILED, "bad")
    retried = await async_jobs_client.retry(failed)
    assert (retried.status, retried.attempts) == (JobStatus.PENDING, 0)
    snoozed = await async_jobs_client.snooze(claimed[2], timedelta(minutes=5))
    assert (snoozed.status, snoozed.attempts) == (JobStatus.PENDING, 0)
    cancelled = await async_jobs_client.cancel(claimed[3], reason="stop")
    assert cancelled.status is JobStatus.CANCELLED
    # What the server now holds, read back through HTTP.
    stored = {job.id: job.status for job in await async_jobs_client.list(tenant_id=TENANT)}
    assert stored == {
        claimed[0].id: JobStatus.COMPLETED,
        claimed[1].id: JobStatus.PENDING,
        claimed[2].id: JobStatus.PENDING,
        claimed[3].id: JobStatus.CANCELLED,
    }


async def test_lease_lost_after_expiry(async_jobs_client: AsyncJobsClient, supabase_jobs_clean):
    stack: LocalStack = supabase_jobs_clean
    await async_jobs_client.dispatch(TENANT, "test_job", {})
    (stale,) = await async_jobs_client.claim("slow")
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute("update public.jobs set locked_until = now() - interval '1 second'")
    (fresh,) = await async_jobs_client.claim("fast")
    assert fresh.id == stale.id
    assert fresh.lease_id != stale.lease_id
    with pytest.raises(LeaseLostError) as info:
        await async_jobs_client.complete(stale)
    assert info.value.job_ids == (str(stale.id),)
    with pytest.raises(LeaseLostError):
        await async_jobs_client.heartbeat(stale)
    assert (await async_jobs_client.complete(fresh)).status is JobStatus.COMPLETED


async def test_concurrent_claims_never_share_a_job(async_jobs_client: AsyncJobsClient):
    await async_jobs_client.dispatch_many(
        [{"tenant_id": TENANT, "type": "test_job"} for _ in range(200)]
    )
    batches = await asyncio.gather(*(async_jobs_client.claim(f"w{i}", limit=30) for i in range(8)))
    ids = [job.id for batch in batches for job in batch]
    assert len(ids) == len(set(ids)) == 200
