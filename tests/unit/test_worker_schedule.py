"""``worker.schedule``: the schedule lane wakes for a slot while the claim lane idles on a
long poll interval, retries a failed dispatch with backoff, stays out of ``run(drain=True)``.

The client is an in-process stand-in (claims nothing, records dispatches): what is under
test is when the loop calls it. The database side (one job per slot across replicas) is
tested end to end in tests/e2e/test_worker_schedule.py.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from supabase_jobs import AsyncWorker, TransportError, ValidationError, Worker
from supabase_jobs._models import Job
from supabase_jobs._worker._schedules import ScheduleTicker

from ._helpers import TENANT, job_row


class IdleJobs:
    """Claims nothing; ``dispatch_many`` records the slots and fails the first ``faults``."""

    def __init__(self, faults: int = 0) -> None:
        self.config = None
        self.registry = None
        self.claims = 0
        self.keys: list[str] = []
        self.calls = 0
        self.faults = faults

    def claim(self, *args: Any, **kwargs: Any) -> list[Job]:
        self.claims += 1
        return []

    def dispatch_many(self, items: list[dict[str, Any]]) -> list[Job]:
        self.calls += 1
        if self.calls <= self.faults:
            raise TransportError("connection reset")
        self.keys.extend(item["idempotency_key"] for item in items)
        return [Job.model_validate(job_row(idempotency_key=i["idempotency_key"])) for i in items]


class AsyncIdleJobs(IdleJobs):
    async def claim(self, *args: Any, **kwargs: Any) -> list[Job]:  # type: ignore[override]
        return super().claim(*args, **kwargs)

    async def dispatch_many(self, items: list[dict[str, Any]]) -> list[Job]:  # type: ignore[override]
        return super().dispatch_many(items)


def _worker(jobs: Any, cls: Any = Worker) -> Any:
    worker = cls(jobs, poll_interval=60.0, idle_poll_interval=60.0, install_signal_handlers=False)
    if cls is Worker:
        worker.handler("test_job")(lambda job: None)
    else:

        async def handle(job: Job) -> None:
            return None

        worker.handler("test_job")(handle)
    worker.schedule("tick", every=timedelta(seconds=1), type="test_job", tenant_id=TENANT)
    return worker


def _run_sync_for(worker: Worker, seconds: float) -> None:
    thread = threading.Thread(target=worker.run)
    thread.start()
    time.sleep(seconds)
    worker.stop()
    thread.join(timeout=30)
    assert not thread.is_alive()


def test_an_idle_worker_with_a_long_poll_interval_still_enqueues_every_slot() -> None:
    jobs = IdleJobs()
    worker = _worker(jobs)
    _run_sync_for(worker, 3.6)
    # A 60 s poll interval would allow one claim; the lane ran on the 1 s slots instead.
    assert len(jobs.keys) >= 3
    assert len(set(jobs.keys)) == len(jobs.keys)
    assert all(key.startswith("schedule:tick:") for key in jobs.keys)
    # Each enqueued slot woke the claim lane (the first claim plus one per slot at least).
    assert jobs.claims >= len(jobs.keys)


def test_a_failed_dispatch_is_retried_with_backoff_and_not_fatal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "supabase_jobs.worker")
    jobs = IdleJobs(faults=3)
    worker = _worker(jobs)
    _run_sync_for(worker, 3.6)
    assert worker.stats().exit_code == 0
    assert jobs.calls > 3 and jobs.keys  # it recovered
    messages = [r.getMessage() for r in caplog.records]
    assert sum("schedules: outage started" in m for m in messages) == 1
    assert sum("schedules: recovered" in m for m in messages) == 1


def test_async_worker_enqueues_slots_while_idle() -> None:
    jobs = AsyncIdleJobs()
    worker = _worker(jobs, AsyncWorker)

    async def main() -> None:
        task = asyncio.create_task(worker.run())
        await asyncio.sleep(3.6)
        worker.stop()
        await asyncio.wait_for(task, 30)

    asyncio.run(main())
    assert len(jobs.keys) >= 3 and len(set(jobs.keys)) == len(jobs.keys)


def test_drain_does_not_wait_for_future_slots() -> None:
    jobs = IdleJobs()
    worker = _worker(jobs)
    started = time.monotonic()
    stats = worker.run(drain=True)
    assert stats.exit_code == 0 and jobs.keys == []
    assert time.monotonic() - started < 30  # it returned; no slot kept it alive


def test_schedule_validates_before_running() -> None:
    worker = Worker(IdleJobs())
    with pytest.raises(ValidationError) as info:
        worker.schedule("x", cron="0 3 * * *", type="t", tenant_id=TENANT, timezone="Mars/Base")
    assert info.value.path == "timezone"
    worker.schedule("x", cron="0 3 * * *", type="t", tenant_id=TENANT, timezone="Europe/Paris")
    with pytest.raises(ValidationError, match="already"):
        worker.schedule("x", every=timedelta(seconds=5), type="t", tenant_id=TENANT)
    assert [s.name for s in worker.schedules] == ["x"]


def test_ticker_sleeps_until_the_slot_or_the_backoff() -> None:
    worker = Worker(IdleJobs())
    worker.schedule("t", every=timedelta(seconds=1), type="t", tenant_id=TENANT)
    ticker = ScheduleTicker(worker._schedules)
    assert ticker.delay(0.0) == 0.0  # the current slot at once
    ticker.succeeded(0.0)
    assert 0.0 <= ticker.delay(0.0) <= 1.0
    ticker.failed(100.0, TransportError("down"), 0.0)
    assert ticker.delay(100.0) == pytest.approx(0.05)
    ticker.succeeded(100.1)
    assert ticker.delay(100.1) <= 1.0
    log = ticker.failed(200.0, ValidationError("payload", "bad"), 0.5)
    assert log.level == "error"
