"""Operator calls: queue limits and fairness, queue stats, prune in bounded batches.

Each method is prepare (pure, ``_admin_core``) -> one RPC or table read -> parse (pure).
``prune`` is the one loop: PostgREST runs every RPC in its own transaction, so a batch per
call is what keeps each transaction short.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Iterable
from datetime import timedelta
from uuid import UUID

from .._admin_core import (
    DEFAULT_PRUNE_BATCH,
    PruneProgress,
    QueueLimits,
    QueueStats,
    parse_limits,
    parse_prune_batch,
    parse_queue_stats,
    prune_batch_params,
    queue_fair_params,
    queue_limits_params,
)
from .._constants import (
    MAX_PRUNE_BATCHES,
    RPC_PRUNE_BATCH,
    RPC_QUEUE_STATS,
    RPC_SET_QUEUE_FAIR,
    RPC_SET_QUEUE_LIMITS,
)
from .._errors import ValidationError
from .._models import JobStatus
from .._translate import translate_errors
from .._validate import validate_queue_name
from ._base import AsyncJobsBase

__all__ = ["AsyncJobsAdmin"]

logger = logging.getLogger("supabase_jobs")

SETTINGS_TABLE = "job_queue_settings"


class AsyncJobsAdmin(AsyncJobsBase):
    """Queue limits, fairness, queue stats and batched prune (see ``AsyncJobsClient``)."""

    async def set_queue_limits(
        self,
        queue: str,
        *,
        max_running_per_tenant: int | None = None,
        max_running: int | None = None,
        tenant_id: str | UUID | None = None,
    ) -> QueueLimits | None:
        """Cap how many jobs of ``queue`` run at once, per tenant and/or in total.

        The claim enforces the caps itself, race-free among any number of workers: a
        tenant at its cap is skipped (its jobs wait), other tenants are served. A lease
        that expires frees its slot. Both caps are replaced by the values given; ``None``
        removes a cap.

        Args:
            queue: The queue.
            max_running_per_tenant: At most this many running jobs per tenant (0..1000000).
            max_running: At most this many running jobs in the queue (queue-wide rows only).
            tenant_id: Set an override of ``max_running_per_tenant`` for this tenant.

        Returns:
            The stored settings, or ``None`` when nothing is left set for that row.

        Raises:
            ValidationError: A bad argument (nothing was sent).
            JobsError: A translated backend or transport failure.
        """
        params = queue_limits_params(
            queue,
            max_running=max_running,
            max_running_per_tenant=max_running_per_tenant,
            tenant_id=tenant_id,
        )
        rows = parse_limits(
            await self._rpc(RPC_SET_QUEUE_LIMITS, params, "set_queue_limits"), RPC_SET_QUEUE_LIMITS
        )
        return rows[0] if rows else None

    async def clear_queue_limits(self, queue: str, *, tenant_id: str | UUID | None = None) -> None:
        """Remove the caps of ``queue`` (or one tenant's override); fairness is kept.

        Raises:
            ValidationError: A bad argument (nothing was sent).
            JobsError: A translated backend or transport failure.
        """
        await self.set_queue_limits(queue, tenant_id=tenant_id)

    async def set_queue_fair(self, queue: str, fair: bool) -> None:
        """Switch fair claiming across tenants on (the default) or off for ``queue``.

        Raises:
            ValidationError: A bad argument (nothing was sent).
            JobsError: A translated backend or transport failure.
        """
        await self._rpc(RPC_SET_QUEUE_FAIR, queue_fair_params(queue, fair), "set_queue_fair")

    async def queue_limits(self, queue: str | None = None) -> builtins.list[QueueLimits]:
        """The stored queue settings and tenant overrides (of one queue, or all).

        Raises:
            ValidationError: A malformed queue name (nothing was sent).
            JobsError: A translated backend or transport failure.
        """
        query = self._rest().table(SETTINGS_TABLE).select("*")
        if queue is not None:
            query = query.eq("queue", validate_queue_name(queue, path="queue"))
        with translate_errors("queue_limits"):
            response = await query.order("queue").order("tenant_id", nullsfirst=True).execute()
        return parse_limits(response.data, SETTINGS_TABLE)

    async def queue_stats(self) -> builtins.list[QueueStats]:
        """Per queue: pending, processing, finished counts, oldest due job's age, throughput.

        Reads counters the database maintains, so it costs the same at 10M rows as at 10.

        Raises:
            JobsError: A translated backend or transport failure.
        """
        return parse_queue_stats(await self._rpc(RPC_QUEUE_STATS, {}, "queue_stats"))

    async def prune(
        self,
        older_than: float | timedelta,
        *,
        statuses: Iterable[JobStatus | str] | None = None,
        batch_size: int = DEFAULT_PRUNE_BATCH,
        on_progress: Callable[[PruneProgress], object] | None = None,
        max_batches: int | None = None,
    ) -> int:
        """Delete finished jobs that finished more than ``older_than`` ago, in batches.

        Each batch is one RPC, so one short transaction: it reads a bounded range of the
        table and deletes at most ``batch_size`` rows, skipping rows a worker has locked
        (prune never makes a worker wait). Safe to run next to busy workers.

        Args:
            older_than: Age in seconds (>= 0) or a ``timedelta``.
            statuses: Which finished statuses (default completed, failed, cancelled);
                pending or processing jobs can never be pruned.
            batch_size: Rows per transaction (1..100000).
            on_progress: Called with a :class:`PruneProgress` after every batch.
            max_batches: Stop after this many batches (``None``: sweep the whole table).

        Returns:
            How many jobs were deleted.

        Raises:
            ValidationError: A bad argument (nothing was sent).
            JobsError: A translated backend or transport failure.
        """
        if max_batches is not None and (
            isinstance(max_batches, bool)
            or not isinstance(max_batches, int)
            or not 1 <= max_batches <= MAX_PRUNE_BATCHES
        ):
            raise ValidationError(
                "max_batches", f"must be a whole number 1..{MAX_PRUNE_BATCHES} or None"
            )
        params = prune_batch_params(older_than, statuses, batch_size=batch_size)
        deleted = batches = 0
        while True:
            answer = await self._rpc(RPC_PRUNE_BATCH, params, "prune")
            batch_deleted, page, total_pages = parse_prune_batch(answer)
            deleted += batch_deleted
            batches += 1
            if on_progress is not None:
                on_progress(
                    PruneProgress(
                        deleted=deleted,
                        batch_deleted=batch_deleted,
                        batches=batches,
                        page=page,
                        total_pages=total_pages,
                    )
                )
            if page >= total_pages or (max_batches is not None and batches >= max_batches):
                break
            params = {**params, "p_from_page": page}
        logger.info("pruned %d jobs", deleted, extra={"action": "prune", "count": deleted})
        return deleted
