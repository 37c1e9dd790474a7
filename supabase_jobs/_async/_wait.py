"""Waiting for a job's outcome: ``wait()`` polls the job until it is finished.

``_async`` is the source; ``scripts/unasync.py`` generates ``_sync`` from it. The
decisions (arguments, schedule, verdict) are pure and live in ``.._waiting``; this mixin
only reads the job and pauses.

Realtime seam: every pause between two polls goes through :meth:`AsyncJobsWait._pause`.
A Realtime-based wake (a subscription to the job's row changes) plugs in by overriding
it to return as soon as a change for ``job_id`` arrives, or when ``seconds`` pass. Polling
then stays the safety net: a missed or late notification only costs one poll interval,
and correctness never depends on the subscription.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from logging import getLogger
from time import monotonic
from uuid import UUID

from .._core import parse_jobs
from .._errors import NotFoundError
from .._models import Job
from .._rpc import job_id_of
from .._translate import translate_errors
from .._waiting import (
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WAIT_TIMEOUT,
    WaitTimeoutError,
    finished,
    poll_delays,
    wait_plan,
)
from ._base import AsyncJobsBase

__all__ = ["AsyncJobsWait"]

logger = getLogger("supabase_jobs")


class AsyncJobsWait(AsyncJobsBase):
    """``wait()``: block until a job completes (see ``AsyncJobsClient`` for the whole API)."""

    async def wait(
        self,
        job: Job | str | UUID,
        *,
        timeout: float | timedelta = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float | timedelta = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | timedelta = DEFAULT_MAX_POLL_INTERVAL,
    ) -> Job:
        """Wait until the job is finished and return it completed (with its ``result``).

        Reads the job at once, then again after pauses that double from
        ``poll_interval`` up to ``max_poll_interval`` (with random jitter), and a last
        time at the deadline. Each read is one GET, which postgrest-py retries on network
        errors. Waiting changes nothing: on timeout the job keeps running.

        Example::

            job = await jobs.dispatch(tenant_id, "document_export", {"doc": doc_id})
            done = await jobs.wait(job, timeout=120)
            print(done.result)

        Args:
            job: The job (or its id).
            timeout: Give up after this many seconds (0.01..86400, or a ``timedelta``).
            poll_interval: The first pause between reads, in seconds.
            max_poll_interval: The longest pause between reads, in seconds.

        Returns:
            The job, status ``completed``.

        Raises:
            ValidationError: A malformed id or interval (no request was sent).
            JobFailedError: The job ended ``failed``; ``.job`` and ``.last_error``
                (scrubbed) say why.
            JobCancelledError: The job was cancelled.
            WaitTimeoutError: Still not finished after ``timeout`` (``.job`` is the last
                state read); also a builtin ``TimeoutError``.
            NotFoundError: No such job (or it was deleted while waiting).
            JobsError: A translated backend or transport failure.
        """
        job_id = job_id_of(job, "job")
        plan = wait_plan(timeout, poll_interval, max_poll_interval)
        deadline = monotonic() + plan.timeout
        delays = poll_delays(plan)
        polls = 0
        while True:
            current = await self._read_job(job_id)
            polls += 1
            if finished(current):
                logger.debug(
                    "job %s completed after %d poll(s)",
                    job_id,
                    polls,
                    extra={"action": "wait", "job_id": job_id, "polls": polls},
                )
                return current
            left = deadline - monotonic()
            if left <= 0:
                raise WaitTimeoutError(current, plan.timeout)
            await self._pause(job_id, min(next(delays), left))

    async def _read_job(self, job_id: str) -> Job:
        """One GET of the job by id (retried by postgrest-py on network errors)."""
        query = self._rest().table(self._config.table).select("*").eq("id", job_id)
        with translate_errors("wait", job_id=job_id):
            response = await query.execute()
        jobs = parse_jobs(response.data)
        if not jobs:
            raise NotFoundError("the job does not exist", job_id=job_id)
        return jobs[0]

    async def _pause(self, job_id: str, seconds: float) -> None:
        """Pause before the next read of ``job_id`` (the Realtime seam, see the module)."""
        await asyncio.sleep(seconds)
