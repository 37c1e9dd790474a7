"""Lifecycle hooks: the attachment point for metrics and tracing.

Subclass :class:`WorkerHooks`, override what you need and pass instances to
``Worker(..., hooks=[...])`` or ``worker.add_hooks(...)``. ``job_started`` and
``job_finished`` run in the thread (``Worker``) or task (``AsyncWorker``) that runs the
handler, right before and right after it, so context set in ``job_started`` (contextvars,
an OpenTelemetry span) is visible to the handler. A hook that raises is logged (its type
name only) and never breaks the worker.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from .._models import Job
from ._outcomes import JobOutcome

__all__ = ["HookSet", "WorkerHooks"]

logger = logging.getLogger("supabase_jobs.worker")


class WorkerHooks:
    """No-op lifecycle hooks; subclass and override the ones you need."""

    def job_started(self, job: Job) -> None:
        """Called immediately before the handler, in the handler's thread or task."""

    def job_finished(self, job: Job, outcome: JobOutcome) -> None:
        """Called immediately after the outcome is known (before it is written), in the
        handler's thread or task."""

    def lease_lost(self, job: Job) -> None:
        """Called when the worker learns that it no longer holds ``job``'s lease."""

    def worker_idle(self) -> None:
        """Called when a claim found nothing due."""


class HookSet:
    """The registered hooks, each call isolated from the others and from the worker."""

    def __init__(self, hooks: Iterable[WorkerHooks] = ()) -> None:
        self.hooks: list[WorkerHooks] = []
        self.add(hooks)

    def add(self, hooks: Iterable[WorkerHooks]) -> None:
        """Register more hooks (called in registration order)."""
        for hook in hooks:
            if not isinstance(hook, WorkerHooks):
                raise TypeError("hooks must be WorkerHooks instances")
            self.hooks.append(hook)

    def _each(self, name: str, *args: object) -> None:
        for hook in self.hooks:
            try:
                getattr(hook, name)(*args)
            except Exception as exc:  # a broken hook must never break the worker
                logger.error(
                    "hook %s.%s raised %s",
                    type(hook).__name__,
                    name,
                    type(exc).__name__,
                    extra={"action": "hook_error", "hook": name},
                )

    def job_started(self, job: Job) -> None:
        """Run every ``job_started`` hook."""
        if self.hooks:
            self._each("job_started", job)

    def job_finished(self, job: Job, outcome: JobOutcome) -> None:
        """Run every ``job_finished`` hook."""
        if self.hooks:
            self._each("job_finished", job, outcome)

    def lease_lost(self, job: Job) -> None:
        """Run every ``lease_lost`` hook."""
        if self.hooks:
            self._each("lease_lost", job)

    def worker_idle(self) -> None:
        """Run every ``worker_idle`` hook."""
        if self.hooks:
            self._each("worker_idle")
