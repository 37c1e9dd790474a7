"""supabase-jobs: a reliable, multi-tenant job queue for Supabase, reached through PostgREST.

Quick start::

    from supabase_jobs import JobsClient

    jobs = JobsClient.from_env()   # SUPABASE_URL + SUPABASE_SERVICE_ROLE_KEY (env or .env)
    job = jobs.dispatch(tenant_id, "ai_generation", {"prompt": "...", "max_tokens": 512})
    for claimed in jobs.claim("worker-1", limit=10):
        jobs.complete(claimed, result={"ok": True})

To run handlers, use the worker runtime (``docs/worker.md``)::

    worker = Worker(jobs, concurrency=8)

    @worker.handler("ai_generation", timeout=120)
    def generate(job):
        return {"tokens": 512}

    worker.run()   # or: supabase-jobs worker myapp.jobs:worker

``AsyncJobsClient`` has the same methods as coroutines (``AsyncWorker`` runs ``async def``
handlers). Every error is a ``JobsError``
subclass. ``scrub`` / ``scrub_text`` are the secret scrubber the clients use, for your own
logs. ``RealtimeWakeup`` / ``AsyncRealtimeWakeup`` wake idle workers over Supabase Realtime
(docs/realtime.md). The local stack lives in ``supabase_jobs.local``; the pytest plugin in
``supabase_jobs.testing``; the SQL in ``supabase_jobs.sql``.
"""

from __future__ import annotations

from ._admin_core import PruneProgress, QueueLimits, QueueStats
from ._async._client import AsyncJobsClient
from ._errors import (
    BackendError,
    ConfigurationError,
    ConflictError,
    ConstraintViolationError,
    ForeignKeyViolationError,
    InvalidStateError,
    JobsError,
    LeaseLostError,
    MassAssignmentError,
    NotClaimedError,
    NotFoundError,
    NotServiceRoleError,
    PayloadTooLargeError,
    PayloadValidationError,
    PermissionDeniedError,
    RateLimitedError,
    SchemaNotInstalledError,
    ScrubbedFieldRequiredError,
    SecretInPayloadError,
    ServiceUnavailableError,
    TransportError,
    TransportTimeoutError,
    UnknownJobTypeError,
    ValidationError,
)
from ._models import Job, JobStats, JobStatus
from ._paging import JobPage
from ._realtime import AsyncRealtimeWakeup
from ._realtime_sync import RealtimeWakeup
from ._registry import JobType, JobTypeRegistry
from ._sanitize import ScrubMode, ScrubResult, scrub, scrub_text
from ._schedule import Schedule
from ._schedule_set import ScheduleSet
from ._settings import JobsConfig, JobsSettings
from ._sync._client import JobsClient
from ._version import __version__
from ._waiting import JobCancelledError, JobFailedError, WaitTimeoutError
from ._worker import (
    AsyncWorker,
    AttemptCancelledError,
    Cancel,
    Fail,
    JobContext,
    JobOutcome,
    JobTimeoutError,
    Snooze,
    UnstorableResultError,
    Worker,
    WorkerHooks,
    WorkerStats,
    job_context,
)

__all__ = [
    "AsyncJobsClient",
    "AsyncRealtimeWakeup",
    "AsyncWorker",
    "AttemptCancelledError",
    "BackendError",
    "Cancel",
    "ConfigurationError",
    "ConflictError",
    "ConstraintViolationError",
    "Fail",
    "ForeignKeyViolationError",
    "InvalidStateError",
    "Job",
    "JobCancelledError",
    "JobContext",
    "JobFailedError",
    "JobOutcome",
    "JobPage",
    "JobStats",
    "JobStatus",
    "JobTimeoutError",
    "JobType",
    "JobTypeRegistry",
    "JobsClient",
    "JobsConfig",
    "JobsError",
    "JobsSettings",
    "LeaseLostError",
    "MassAssignmentError",
    "NotClaimedError",
    "NotFoundError",
    "NotServiceRoleError",
    "PayloadTooLargeError",
    "PayloadValidationError",
    "PermissionDeniedError",
    "PruneProgress",
    "QueueLimits",
    "QueueStats",
    "RateLimitedError",
    "RealtimeWakeup",
    "Schedule",
    "ScheduleSet",
    "SchemaNotInstalledError",
    "ScrubMode",
    "ScrubResult",
    "ScrubbedFieldRequiredError",
    "SecretInPayloadError",
    "ServiceUnavailableError",
    "Snooze",
    "TransportError",
    "TransportTimeoutError",
    "UnknownJobTypeError",
    "UnstorableResultError",
    "ValidationError",
    "WaitTimeoutError",
    "Worker",
    "WorkerHooks",
    "WorkerStats",
    "__version__",
    "job_context",
    "scrub",
    "scrub_text",
]
