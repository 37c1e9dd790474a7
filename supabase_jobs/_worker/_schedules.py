"""The schedule lane: a worker enqueues its due schedule slots on time.

``worker.schedule(...)`` declares a schedule in a :class:`~supabase_jobs.ScheduleSet` owned
by the worker. While the worker runs, one more lane (a thread for ``Worker``, a task for
``AsyncWorker``) sleeps until the next slot (``seconds_until_due``: at most 1 s), then
dispatches the due slots (``run_due`` / ``arun_due``: one keyed job per slot, so any number
of replicas enqueue each slot once). The lane is separate from the claim lane on purpose: an
idle worker waits up to ``poll_interval`` between claims, and a slot must not wait for that.
After enqueueing, the lane wakes the claim lane for the queues it serves, so a replica picks
up the job it just enqueued without waiting for its next poll.

A failed dispatch is never fatal: ``run_due`` forgets the slots, and the lane retries with
capped exponential backoff (the worker's :class:`~._backoff.Lane` bookkeeping: one WARNING
when an outage starts, one INFO when it ends). Slots that stay undispatched for longer than
the set's ``grace`` follow the schedule's catch-up policy. The lane stops enqueueing as soon
as the worker starts stopping, and it does not run at all under ``run(drain=True)``, which
ends when nothing is due rather than waiting for future slots.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING

from .._models import Job
from .._schedule_set import ScheduleSet
from ._backoff import Backoff, Lane, LaneLog, is_permanent
from ._base import logger

if TYPE_CHECKING:
    from ._async import AsyncWorker
    from ._core import WorkerCore
    from ._sync import Worker

__all__ = ["ScheduleTicker", "async_schedule_lane", "schedule_lane"]


class ScheduleTicker:
    """When the schedule lane should next call ``run_due``; pure (the caller passes ``now``).

    Args:
        schedules: The worker's schedules.
        backoff: The retry policy after a failed dispatch.
    """

    def __init__(self, schedules: ScheduleSet, backoff: Backoff | None = None) -> None:
        self.schedules = schedules
        self.lane = Lane("schedules", backoff or Backoff(0.1, 5.0))
        self.next_at = 0.0  # monotonic; 0: run at once (the current slot, on start)

    def delay(self, now: float) -> float:
        """Seconds to sleep before the next ``run_due`` (0: call it now).

        ``now`` is the monotonic clock; the slots themselves are read on the wall clock by
        the ScheduleSet, which says how far away the next one is after each run.
        """
        return max(self.next_at - now, 0.0)

    def failed(self, now: float, error: BaseException, rand: float) -> LaneLog:
        """Record a failed dispatch and back off; a permanent error (a refused payload)
        logs an ERROR every time, since retrying cannot fix it, but it does not stop the
        worker either."""
        log = self.lane.failed(now, error, rand)
        self.next_at = self.lane.retry_at
        if is_permanent(error):
            return LaneLog("error", f"schedules: dispatch refused ({type(error).__name__})")
        return log

    def succeeded(self, now: float) -> LaneLog | None:
        """Record a successful ``run_due`` (which may have had nothing to send)."""
        self.next_at = now + self.schedules.seconds_until_due()
        return self.lane.succeeded(now)


def _queues(jobs: list[Job]) -> set[str]:
    return {job.queue for job in jobs if job.status == "pending" and job.queue}


def schedule_lane(worker: Worker, core: WorkerCore) -> None:
    """The ``Worker`` lane (its own thread; the worker's condition guards the core)."""
    ticker = ScheduleTicker(worker._schedules)
    cond = worker._cond
    while True:
        with cond:
            while True:
                if core.stopped or not core.shutdown.claiming:
                    return
                delay = ticker.delay(time.monotonic())
                if delay <= 0:
                    break
                # Notified often (every supervisor tick): recomputing the delay is cheap.
                cond.wait(min(delay, 1.0))
        try:
            enqueued = worker._schedules.run_due(worker.jobs)
        except Exception as exc:
            log: LaneLog | None = ticker.failed(time.monotonic(), exc, random.random())
            worker._log_lane(log)
            continue
        worker._log_lane(ticker.succeeded(time.monotonic()))
        if enqueued:
            logger.debug("schedules: %d slot(s) enqueued", len(enqueued))
        for queue in _queues(enqueued):
            worker._wake(queue)


async def async_schedule_lane(worker: AsyncWorker, core: WorkerCore) -> None:
    """The ``AsyncWorker`` lane (its own task)."""
    ticker = ScheduleTicker(worker._schedules)
    while not core.stopped and core.shutdown.claiming:
        delay = ticker.delay(time.monotonic())
        if delay > 0:
            await worker._changed.wait(min(delay, 1.0))
            continue
        try:
            enqueued = await worker._schedules.arun_due(worker.jobs)
        except Exception as exc:
            worker._log_lane(ticker.failed(time.monotonic(), exc, random.random()))
            continue
        worker._log_lane(ticker.succeeded(time.monotonic()))
        if enqueued:
            logger.debug("schedules: %d slot(s) enqueued", len(enqueued))
        for queue in _queues(enqueued):
            worker._wake(queue)
