"""The worker runtime: ``Worker`` (threads) and ``AsyncWorker`` (asyncio) over one sans-I/O
core (``_core``), with outcomes, hooks, a wake-up trigger and the ``worker`` command.

See ``docs/worker.md``.
"""

from __future__ import annotations

from ._async import AsyncWorker
from ._context import AttemptCancelledError, JobContext, job_context
from ._hooks import WorkerHooks
from ._outcomes import (
    Cancel,
    Fail,
    JobOutcome,
    JobTimeoutError,
    Snooze,
    UnstorableResultError,
    WorkerStats,
)
from ._sync import Worker

__all__ = [
    "AsyncWorker",
    "AttemptCancelledError",
    "Cancel",
    "Fail",
    "JobContext",
    "JobOutcome",
    "JobTimeoutError",
    "Snooze",
    "UnstorableResultError",
    "Worker",
    "WorkerHooks",
    "WorkerStats",
    "job_context",
]
