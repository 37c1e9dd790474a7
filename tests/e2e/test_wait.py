"""wait() end to end: JobsClient / AsyncJobsClient -> gateway -> PostgreSQL, both flavours."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable

import pytest

from supabase_jobs import (
    AsyncJobsClient,
    JobCancelledError,
    JobFailedError,
    JobsClient,
    JobStatus,
    NotFoundError,
    WaitTimeoutError,
)

pytestmark = pytest.mark.e2e

TENANT = "00000000-0000-4000-8000-0000000000d1"
# Generous: the machine is shared; a wait that succeeds returns as soon as the job is done.
TIMEOUT = 60.0


class CountingPauses:
    """Counts the pauses wait() takes (the Realtime seam) without changing them."""

    def __init__(self, client: JobsClient, on_pause: Callable[[], object] = lambda: None) -> None:
        self.pauses = 0
        original = client._pause

        def pause(job_id: str, seconds: float) -> None:
            self.pauses += 1
            on_pause()
            original(job_id, seconds)

        client._pause = pause  # type: ignore[method-assign]


def test_wait_returns_the_completed_job(jobs_client: JobsClient):
    job = jobs_client.dispatch(TENANT, "test_job", {"n": 1})
    started = threading.Event()
    # The first poll saw the job unfinished: only then does the worker run it.
    counter = CountingPauses(jobs_client, on_pause=started.set)

    def worker() -> None:
        started.wait(TIMEOUT)
        (claimed,) = jobs_client.claim("w-wait", limit=1)
        jobs_client.complete(claimed, result={"answer": 42})

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        done = jobs_client.wait(job, timeout=TIMEOUT, poll_interval=0.02, max_poll_interval=0.2)
    finally:
        started.set()
        thread.join(TIMEOUT)
    assert done.id == job.id
    assert done.status is JobStatus.COMPLETED
    assert done.result == {"answer": 42}
    assert counter.pauses >= 1  # it did poll more than once


def test_wait_on_an_already_completed_job_returns_at_once(jobs_client: JobsClient):
    job = jobs_client.dispatch(TENANT, "test_job", {})
    (claimed,) = jobs_client.claim("w-wait", limit=1)
    jobs_client.complete(claimed, result=[1, 2])
    counter = CountingPauses(jobs_client)
    assert jobs_client.wait(job.id, timeout=TIMEOUT).result == [1, 2]
    assert counter.pauses == 0


def test_wait_raises_job_failed_with_the_scrubbed_error(jobs_client: JobsClient):
    job = jobs_client.dispatch(TENANT, "test_job", {"who": "alice@example.com"}, max_attempts=1)
    (claimed,) = jobs_client.claim("w-wait", limit=1)
    jobs_client.fail(claimed, RuntimeError("login refused: password=hunter2"), retry=False)
    with pytest.raises(JobFailedError) as info:
        jobs_client.wait(job, timeout=TIMEOUT)
    error = info.value
    assert error.job.status is JobStatus.FAILED
    assert error.job_id == str(job.id)
    assert error.last_error is not None
    assert "login refused" in error.last_error
    assert "hunter2" not in error.last_error
    assert "hunter2" not in str(error) and "alice" not in str(error)


def test_wait_raises_job_cancelled(jobs_client: JobsClient):
    job = jobs_client.dispatch(TENANT, "test_job", {})
    jobs_client.cancel(job)
    with pytest.raises(JobCancelledError) as info:
        jobs_client.wait(job, timeout=TIMEOUT)
    assert info.value.job.status is JobStatus.CANCELLED


def test_wait_times_out_with_the_last_state(jobs_client: JobsClient):
    job = jobs_client.dispatch(TENANT, "test_job", {})
    counter = CountingPauses(jobs_client)
    with pytest.raises(WaitTimeoutError) as info:
        jobs_client.wait(job, timeout=0.5, poll_interval=0.05, max_poll_interval=0.1)
    assert isinstance(info.value, TimeoutError)
    assert info.value.job.status is JobStatus.PENDING
    assert info.value.timeout == 0.5
    # Polled more than once, and a bounded number of times (delays double from 0.05 s).
    assert 1 <= counter.pauses <= 12
    assert jobs_client.get(job.id).status is JobStatus.PENDING  # waiting changed nothing


def test_wait_for_a_job_that_never_existed(jobs_client: JobsClient):
    with pytest.raises(NotFoundError) as info:
        jobs_client.wait(uuid.uuid4(), timeout=TIMEOUT)
    assert info.value.job_id is not None


async def test_async_wait_sees_a_concurrent_completion(async_jobs_client: AsyncJobsClient):
    job = await async_jobs_client.dispatch(TENANT, "test_job", {"n": 2})

    async def worker() -> None:
        await asyncio.sleep(0.1)
        (claimed,) = await async_jobs_client.claim("w-async", limit=1)
        await async_jobs_client.complete(claimed, result={"ok": True})

    done, _ = await asyncio.gather(
        async_jobs_client.wait(job, timeout=TIMEOUT, poll_interval=0.02, max_poll_interval=0.2),
        worker(),
    )
    assert done.status is JobStatus.COMPLETED and done.result == {"ok": True}


async def test_async_wait_failed_cancelled_timeout_missing(async_jobs_client: AsyncJobsClient):
    failing = await async_jobs_client.dispatch(TENANT, "test_job", {}, max_attempts=1)
    (claimed,) = await async_jobs_client.claim("w-async", limit=1)
    await async_jobs_client.fail(claimed, "boom", retry=False)
    with pytest.raises(JobFailedError):
        await async_jobs_client.wait(failing, timeout=TIMEOUT)
    cancelled = await async_jobs_client.dispatch(TENANT, "test_job", {})
    await async_jobs_client.cancel(cancelled)
    with pytest.raises(JobCancelledError):
        await async_jobs_client.wait(cancelled.id, timeout=TIMEOUT)
    pending = await async_jobs_client.dispatch(TENANT, "test_job", {})
    with pytest.raises(WaitTimeoutError):
        await async_jobs_client.wait(pending, timeout=0.3, poll_interval=0.05)
    with pytest.raises(NotFoundError):
        await async_jobs_client.wait(str(uuid.uuid4()), timeout=TIMEOUT)
