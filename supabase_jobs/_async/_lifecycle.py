"""The worker side: claim, heartbeat, complete, fail, snooze, cancel, retry, stats, prune.

Each method is prepare (pure, ``_rpc``) -> one ``sj_*_v1`` RPC -> parse (pure). RPCs are
POSTs, which postgrest-py never retries: a lost claim or complete response is recovered
by lease expiry, never by sending the write again.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, overload
from uuid import UUID

from .._constants import (
    DEFAULT_LEASE_SECONDS,
    RPC_CANCEL,
    RPC_CLAIM,
    RPC_COMPLETE,
    RPC_COMPLETE_MANY,
    RPC_FAIL,
    RPC_FAIL_MANY,
    RPC_HEARTBEAT,
    RPC_HEARTBEAT_MANY,
    RPC_NEXT_DUE,
    RPC_RELEASE_MANY,
    RPC_RETRY,
    RPC_SNOOZE,
    RPC_STATS,
)
from .._core import parse_job, parse_jobs
from .._models import Job, JobStats
from .._rpc import (
    cancel_params,
    claim_params,
    complete_many_params,
    complete_params,
    ensure_all_held,
    fail_params,
    heartbeat_params,
    next_due_params,
    parse_stats,
    retry_params,
    snooze_params,
    stats_params,
)
from .._rpc_batch import (
    fail_many_params,
    heartbeat_many_params,
    parse_lost,
    release_many_params,
)
from ._base import AsyncJobsBase

__all__ = ["AsyncJobsLifecycle"]

logger = logging.getLogger("supabase_jobs")


class AsyncJobsLifecycle(AsyncJobsBase):
    """Lease-fenced job lifecycle calls (see ``AsyncJobsClient`` for the whole API)."""

    async def claim(
        self,
        worker_id: str,
        *,
        types: Iterable[str] | None = None,
        queues: Iterable[str] | None = None,
        limit: int = 10,
        lease_seconds: int | timedelta = DEFAULT_LEASE_SECONDS,
    ) -> builtins.list[Job]:
        """Atomically claim up to ``limit`` due jobs (highest priority first).

        Each returned job is ``processing`` and carries a fresh ``lease_id``; pass it
        to ``heartbeat``/``complete``/``fail``/``snooze`` before ``lease_seconds`` pass,
        or another worker may claim it again.

        Args:
            worker_id: Who claims (1..255 printable characters), stored on the job.
            types: Only these job types (``None``: any type).
            queues: Only these queues (``None``: any queue).
            limit: At most this many jobs (1..1000).
            lease_seconds: Lease length, whole seconds 1..86400 (or a ``timedelta``).

        Returns:
            The claimed jobs (possibly none).

        Raises:
            ValidationError: A bad argument (no request was sent).
            JobsError: A translated backend or transport failure.
        """
        params = claim_params(
            worker_id, types=types, queues=queues, limit=limit, lease_seconds=lease_seconds
        )
        jobs = parse_jobs(await self._rpc(RPC_CLAIM, params, "claim", worker_id=worker_id))
        logger.debug("claimed %d jobs", len(jobs), extra={"action": "claim", "count": len(jobs)})
        return jobs

    async def next_due(
        self,
        *,
        types: Sequence[str] | None = None,
        queues: Sequence[str] | None = None,
    ) -> float | None:
        """Seconds until the next scheduled (``run_at`` in the future) pending job is due.

        Idle workers sleep that long after an empty claim, so scheduled jobs start on time
        without a wake-up message. Measured on the database's clock.

        Args:
            types: Only these job types (``None``: any type).
            queues: Only these queues (``None``: any queue).

        Returns:
            Seconds (> 0), or ``None`` if no pending job of these is scheduled.

        Raises:
            ValidationError: A bad argument (no request was sent).
            JobsError: A translated backend or transport failure.
        """
        params = next_due_params(types=types, queues=queues)
        value = await self._rpc(RPC_NEXT_DUE, params, "next_due")
        return None if value is None else float(value)

    @overload
    async def heartbeat(self, jobs: Job, *, lease_seconds: int | timedelta | None = ...) -> Job: ...

    @overload
    async def heartbeat(
        self, jobs: Sequence[Job], *, lease_seconds: int | timedelta | None = ...
    ) -> builtins.list[Job]: ...

    async def heartbeat(
        self,
        jobs: Job | Sequence[Job],
        *,
        lease_seconds: int | timedelta | None = None,
    ) -> Job | builtins.list[Job]:
        """Extend the leases of one or more claimed jobs (all or nothing).

        Args:
            jobs: A claimed job, or a list of them.
            lease_seconds: The new lease length from now (whole seconds or ``timedelta``).
                ``None`` renews each lease for the length it was granted by ``claim``
                (the longest, for a batch), so a default never shortens a lease.

        Returns:
            The renewed job (for one job) or jobs in input order (for a list).

        Raises:
            NotClaimedError: A job carries no lease (it did not come from ``claim``).
            LeaseLostError: A lease is no longer held; ``.job_ids`` lists which. Stop
                working on those jobs: another worker may own them.
            JobsError: A translated backend or transport failure.
        """
        single = isinstance(jobs, Job)
        params = heartbeat_params([jobs] if single else jobs, lease_seconds)
        renewed = parse_jobs(await self._rpc(RPC_HEARTBEAT, params, "heartbeat"))
        # The RPC is all-or-nothing and raises SJ001; a short answer all the same means
        # some leases were not extended, which a worker must hear about.
        ordered = ensure_all_held(params["p_job_ids"], renewed)
        return ordered[0] if single else ordered

    async def complete(self, job: Job, result: Any = None) -> Job:
        """Mark a claimed job completed, storing ``result`` (JSON-native, scrubbed).

        Calling it again with the same lease returns the completed job (safe to repeat).

        Args:
            job: A job returned by ``claim`` (it carries the lease).
            result: Any JSON-native value (dict, list, str, number, bool, ``None``).

        Returns:
            The completed job.

        Raises:
            NotClaimedError: ``job`` carries no lease.
            PayloadValidationError: ``result`` is not JSON-native or too large.
            LeaseLostError: The lease expired and the job belongs to someone else now.
            JobsError: A translated backend or transport failure.
        """
        params = complete_params(job, result, self._config)
        data = await self._rpc(RPC_COMPLETE, params, "complete", job_id=params["p_job_id"])
        return parse_job(data)

    async def complete_many(self, jobs: Iterable[Job | tuple[Job, Any]]) -> builtins.list[Job]:
        """Complete a batch of claimed jobs in one request.

        Held jobs are completed even when some leases were lost; then
        :class:`LeaseLostError` lists the lost ids and carries the completed jobs in
        ``.completed``.

        Args:
            jobs: Claimed jobs (result ``None``) or ``(job, result)`` pairs.

        Returns:
            The completed jobs, in input order.

        Raises:
            NotClaimedError: An item carries no lease (``.path`` is ``jobs[i]``).
            PayloadValidationError: A result is not JSON-native (``jobs[i].result``).
            LeaseLostError: Some leases were lost; the others were completed.
            JobsError: A translated backend or transport failure.
        """
        params, requested = complete_many_params(jobs, self._config)
        done = parse_jobs(await self._rpc(RPC_COMPLETE_MANY, params, "complete_many"))
        return ensure_all_held(requested, done)

    async def heartbeat_many(
        self, jobs: Sequence[Job], *, lease_seconds: int | timedelta | None = None
    ) -> builtins.list[str]:
        """Renew every lease still held in one request; report the lost ones.

        Unlike :meth:`heartbeat` this is not all or nothing: the held leases are renewed
        even when some are lost, and the lost ids are returned instead of raised.

        Args:
            jobs: Claimed jobs.
            lease_seconds: The new lease length from now; ``None`` renews each for the
                length it was granted (the longest, for a batch).

        Returns:
            The ids whose lease is no longer held (cancelled, expired and taken, deleted).

        Raises:
            NotClaimedError: A job carries no lease (``.path`` is ``jobs[i]``).
            JobsError: A translated backend or transport failure.
        """
        params = heartbeat_many_params(jobs, lease_seconds)
        data = await self._rpc(RPC_HEARTBEAT_MANY, params, "heartbeat_many")
        return parse_lost(data, "held", RPC_HEARTBEAT_MANY)

    async def release_many(
        self,
        *,
        snoozes: Iterable[tuple[Job, float | timedelta]] = (),
        cancels: Iterable[tuple[Job, str | None]] = (),
    ) -> builtins.list[str]:
        """Snooze and cancel claimed jobs in one request, fenced by their leases.

        A snooze puts the job back to pending after its delay and gives the claim's attempt
        back (``snoozes=[(job, 0)]`` hands a claimed job back at once, for free); a cancel
        is final. Re-sending a request whose reply was lost is safe: items this lease
        already settled count as applied.

        Args:
            snoozes: ``(job, delay)`` pairs (seconds 0..31536000 or ``timedelta``).
            cancels: ``(job, reason)`` pairs; the reason is scrubbed and stored.

        Returns:
            The ids whose lease was no longer held (nothing was changed for them).

        Raises:
            NotClaimedError: An item carries no lease.
            ValidationError: A bad delay or reason, or no item at all (nothing sent).
            JobsError: A translated backend or transport failure.
        """
        params, _ = release_many_params(snoozes, cancels)
        data = await self._rpc(RPC_RELEASE_MANY, params, "release_many")
        return parse_lost(data, "applied", RPC_RELEASE_MANY)

    async def fail_many(
        self,
        failures: Iterable[
            tuple[Job, BaseException | str]
            | tuple[Job, BaseException | str, bool, float | timedelta | None]
        ],
    ) -> builtins.list[Job]:
        """Record many failed attempts in one request (the batched :meth:`fail`).

        Args:
            failures: ``(job, error)`` or ``(job, error, retry, retry_in)`` tuples.

        Returns:
            The jobs, in input order: ``pending`` again (a retry is scheduled) or ``failed``.

        Raises:
            NotClaimedError: An item carries no lease.
            ValidationError: A malformed item (``.path`` names it; nothing sent).
            LeaseLostError: Some leases were lost (``.job_ids``); the others were recorded
                and are in ``.completed``.
            JobsError: A translated backend or transport failure.
        """
        params, requested = fail_many_params(failures)
        done = parse_jobs(await self._rpc(RPC_FAIL_MANY, params, "fail_many"))
        return ensure_all_held(requested, done)

    async def fail(
        self,
        job: Job,
        error: BaseException | str,
        *,
        retry: bool = True,
        retry_in: float | timedelta | None = None,
    ) -> Job:
        """Record a failed attempt; retried with backoff until ``max_attempts``.

        The stored message is scrubbed of secrets, cleaned of NUL characters and cut to
        4000 characters; the exception's type name is stored too.

        Args:
            job: A claimed job.
            error: The exception (type and message stored) or a message.
            retry: ``False`` fails the job for good.
            retry_in: Override the backoff delay (seconds 0..31536000, or ``timedelta``).

        Returns:
            The job: ``pending`` again (a retry is scheduled) or ``failed``.

        Raises:
            NotClaimedError: ``job`` carries no lease.
            ValidationError: ``error``, ``retry`` or ``retry_in`` is malformed.
            LeaseLostError: The lease expired; the failure was not recorded.
            JobsError: A translated backend or transport failure.
        """
        params = fail_params(job, error, retry=retry, retry_in=retry_in)
        return parse_job(await self._rpc(RPC_FAIL, params, "fail", job_id=params["p_job_id"]))

    async def snooze(self, job: Job, until: datetime | timedelta) -> Job:
        """Put a claimed job back to pending until ``until``; the attempt is not spent.

        Args:
            job: A claimed job.
            until: An aware ``datetime`` or a ``timedelta`` delay from now.

        Returns:
            The job, ``pending`` with its new ``run_at``.

        Raises:
            NotClaimedError: ``job`` carries no lease.
            ValidationError: ``until`` is naive or a negative delay.
            LeaseLostError: The lease expired.
            JobsError: A translated backend or transport failure.
        """
        params = snooze_params(job, until)
        return parse_job(await self._rpc(RPC_SNOOZE, params, "snooze", job_id=params["p_job_id"]))

    async def cancel(self, job: Job | str | UUID, reason: str | None = None) -> Job:
        """Cancel a pending or processing job (idempotent for cancelled jobs).

        Args:
            job: The job or its id.
            reason: Stored as ``last_error`` (scrubbed, cut to 4000 characters).

        Returns:
            The cancelled job.

        Raises:
            ValidationError: A malformed id or reason (no request was sent).
            NotFoundError: No such job.
            InvalidStateError: The job already completed or failed.
            JobsError: A translated backend or transport failure.
        """
        params = cancel_params(job, reason)
        return parse_job(await self._rpc(RPC_CANCEL, params, "cancel", job_id=params["p_job_id"]))

    async def retry(
        self, job: Job | str | UUID, *, run_at: datetime | timedelta | None = None
    ) -> Job:
        """Requeue a failed or cancelled job with a fresh attempt budget.

        Args:
            job: The job or its id.
            run_at: When it becomes due (aware ``datetime`` or delay); ``None``: now.

        Returns:
            The job, ``pending``.

        Raises:
            ValidationError: A malformed id or ``run_at`` (no request was sent).
            NotFoundError: No such job.
            InvalidStateError: The job is processing or completed.
            JobsError: A translated backend or transport failure.
        """
        params = retry_params(job, run_at)
        return parse_job(await self._rpc(RPC_RETRY, params, "retry", job_id=params["p_job_id"]))

    async def stats(self, tenant_id: str | UUID | None = None) -> JobStats:
        """Job counts by status and type.

        Args:
            tenant_id: Count one tenant's jobs only; ``None`` counts all.

        Returns:
            The :class:`JobStats`.

        Raises:
            ValidationError: A malformed ``tenant_id`` (no request was sent).
            JobsError: A translated backend or transport failure.
        """
        return parse_stats(await self._rpc(RPC_STATS, stats_params(tenant_id), "stats"))
