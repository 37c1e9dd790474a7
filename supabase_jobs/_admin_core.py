"""Queue limits, queue stats and batched prune: models, parameters and parsing (no I/O).

The client mixin ``_async/_admin.py`` sends what these functions prepare and parses what
comes back with them, so every rule here is unit-testable without a database.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from ._constants import DEFAULT_PRUNE_BATCH, MAX_PRUNE_BATCH, MAX_QUEUE_CAP
from ._errors import BackendError, ValidationError
from ._rpc import prune_params
from ._validate import validate_queue_name, validate_tenant_id

__all__ = [
    "DEFAULT_PRUNE_BATCH",
    "PruneProgress",
    "QueueLimits",
    "QueueStats",
    "parse_limits",
    "parse_prune_batch",
    "parse_queue_stats",
    "prune_batch_params",
    "queue_fair_params",
    "queue_limits_params",
]


class QueueLimits(BaseModel):
    """One row of ``job_queue_settings``: a queue's settings or a tenant's override.

    Attributes:
        queue: The queue.
        tenant_id: ``None`` for the queue-wide row, else the tenant this override is for.
        fair: ``False`` when fair claiming is switched off (``None``: default, on).
        max_running: At most this many running jobs in the queue (``None``: no cap).
        max_running_per_tenant: At most this many running jobs per tenant (``None``: no cap).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    queue: str
    tenant_id: UUID | None = None
    fair: bool | None = None
    max_running: int | None = None
    max_running_per_tenant: int | None = None


class QueueStats(BaseModel):
    """What a dashboard needs about one queue, as ``queue_stats()`` returns it.

    Counts come from counters the database maintains in the same transaction as every
    change (exact at the read's snapshot), so reading them does not grow with the table.

    Attributes:
        queue: The queue.
        pending: Jobs waiting (due or scheduled).
        processing: Jobs running (including leases that expired and await rescue).
        completed: Completed jobs still in the table.
        failed: Failed jobs still in the table.
        cancelled: Cancelled jobs still in the table.
        oldest_pending_age_seconds: How long the oldest due pending job has waited since its
            ``run_at`` (``None`` when nothing is due).
        finished_last_hour: Jobs that reached a final status in the last 60 minutes.
        finished_per_minute: 61 counts, one per minute, oldest first; the last is the
            current (partial) minute.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    queue: str
    pending: int
    processing: int
    completed: int
    failed: int
    cancelled: int
    oldest_pending_age_seconds: float | None
    finished_last_hour: int
    finished_per_minute: tuple[int, ...]


class PruneProgress(BaseModel):
    """Reported after each prune batch.

    Attributes:
        deleted: Rows deleted so far, all batches together.
        batch_deleted: Rows the last batch deleted.
        batches: Batches run so far.
        page: The heap page the next batch starts at.
        total_pages: The table's size in pages (``page / total_pages`` is the progress).
    """

    model_config = ConfigDict(frozen=True)

    deleted: int
    batch_deleted: int
    batches: int
    page: int
    total_pages: int

    @property
    def fraction(self) -> float:
        """How far through the table the sweep is, 0.0 to 1.0."""
        return 1.0 if self.total_pages <= 0 else min(1.0, self.page / self.total_pages)


def _cap(value: object, path: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_QUEUE_CAP:
        raise ValidationError(path, f"must be a whole number 0..{MAX_QUEUE_CAP} or None")
    return value


def queue_limits_params(
    queue: object, *, max_running: object, max_running_per_tenant: object, tenant_id: object
) -> dict[str, Any]:
    """Parameters of ``sj_set_queue_limits_v1`` (``None`` caps clear them)."""
    params: dict[str, Any] = {
        "p_queue": validate_queue_name(queue, path="queue"),
        "p_max_running": _cap(max_running, "max_running"),
        "p_max_running_per_tenant": _cap(max_running_per_tenant, "max_running_per_tenant"),
        "p_tenant_id": None if tenant_id is None else validate_tenant_id(tenant_id),
    }
    if params["p_tenant_id"] is not None and params["p_max_running"] is not None:
        raise ValidationError(
            "max_running", "is queue-wide; a tenant override sets max_running_per_tenant only"
        )
    return params


def queue_fair_params(queue: object, fair: object) -> dict[str, Any]:
    """Parameters of ``sj_set_queue_fair_v1``."""
    if not isinstance(fair, bool):
        raise ValidationError("fair", "must be True or False")
    return {"p_queue": validate_queue_name(queue, path="queue"), "p_fair": fair}


def parse_limits(data: object, source: str) -> builtins.list[QueueLimits]:
    """Rows of ``job_queue_settings`` as :class:`QueueLimits`."""
    if not isinstance(data, list):
        raise BackendError(f"unexpected response from {source}")
    try:
        return [QueueLimits.model_validate(row) for row in data]
    except PydanticValidationError:
        raise BackendError(f"unexpected row shape from {source}") from None


def parse_queue_stats(data: object) -> builtins.list[QueueStats]:
    """Rows of ``sj_queue_stats_v1`` as :class:`QueueStats`."""
    if not isinstance(data, list):
        raise BackendError("unexpected response from sj_queue_stats_v1")
    try:
        return [QueueStats.model_validate(row) for row in data]
    except PydanticValidationError:
        raise BackendError("unexpected row shape from sj_queue_stats_v1") from None


def prune_batch_params(
    older_than: float | timedelta,
    statuses: Iterable[object] | None,
    *,
    batch_size: object,
    page: int = 0,
) -> dict[str, Any]:
    """Parameters of ``sj_prune_batch_v1`` (validated like ``prune``'s)."""
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or not (1 <= batch_size <= MAX_PRUNE_BATCH)
    ):
        raise ValidationError("batch_size", f"must be a whole number 1..{MAX_PRUNE_BATCH}")
    params = prune_params(older_than, statuses)
    params["p_batch_size"] = batch_size
    params["p_from_page"] = page
    return params


def parse_prune_batch(data: object) -> tuple[int, int, int]:
    """``(deleted, next_page, total_pages)`` from ``sj_prune_batch_v1``."""
    row = data[0] if isinstance(data, list) and len(data) == 1 else data
    try:
        assert isinstance(row, Mapping)
        return int(row["deleted"]), int(row["next_page"]), int(row["total_pages"])
    except (AssertionError, KeyError, TypeError, ValueError):
        raise BackendError("unexpected response from sj_prune_batch_v1") from None
