"""Frozen models parsed from ``jobs`` rows."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Job", "JobStats", "JobStatus"]


class JobStatus(str, enum.Enum):
    """The lifecycle state of a job (the ``status`` column)."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value

    @property
    def is_terminal(self) -> bool:
        """Whether no worker will run the job again without an explicit retry."""
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class Job(BaseModel):
    """One row of the ``jobs`` table, as the database returned it.

    Columns added by later migrations are optional so that a row from an older table
    (only the seed columns of the existing app) still parses.

    Attributes:
        id: The job's primary key.
        tenant_id: The tenant the job belongs to (a security boundary: RLS keys on it).
        type: The registered job type name.
        status: Where the job is in its lifecycle.
        payload: The scrubbed, JSON-native payload.
        attempts: How many times a worker has claimed the job.
        worker_id: The worker holding or last holding the job.
        lease_id: The fencing token of the current claim; ``None`` when not claimed.
        trace_context: The W3C trace context of the dispatch (``traceparent`` /
            ``tracestate``), stored by ``supabase_jobs.otel``; ``None`` otherwise.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: UUID
    tenant_id: UUID
    type: str
    status: JobStatus
    payload: dict[str, Any] = Field(default_factory=dict)
    attempts: int = 0
    worker_id: str | None = None
    created_at: datetime
    queue: str | None = None
    priority: int | None = None
    run_at: datetime | None = None
    max_attempts: int | None = None
    lease_id: UUID | None = None
    locked_until: datetime | None = None
    heartbeat_at: datetime | None = None
    idempotency_key: str | None = None
    result: Any = None
    last_error: str | None = None
    errors: list[dict[str, Any]] = Field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime | None = None
    trace_context: dict[str, str] | None = None


class JobStats(BaseModel):
    """Job counts by status and type, as ``stats()`` returns them.

    Attributes:
        by_status: Total count per status (every status present, zero when none).
        by_type: Count per type, then per status.
        total: All jobs counted.
    """

    model_config = ConfigDict(frozen=True)

    by_status: dict[JobStatus, int]
    by_type: dict[str, dict[JobStatus, int]]
    total: int
