"""What ``Worker`` and ``AsyncWorker`` share: options, handler registration, logging.

The drivers differ only in how they wait and run handlers (threads vs tasks); everything
they decide comes from :class:`~._core.WorkerCore`.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, TypeVar
from uuid import UUID

from .. import _observe
from .._constants import MAX_LEASE_SECONDS
from .._errors import ConfigurationError
from .._models import Job
from .._registry import JobTypeRegistry
from .._schedule import CatchUp, Schedule
from .._schedule_set import ScheduleSet
from .._settings import JobsConfig
from .._validate import validate_queue_name, validate_type_name
from ._backoff import LaneLog
from ._core import Acked, CoreOptions, WorkerCore
from ._handlers import Handlers
from ._hooks import HookSet, WorkerHooks
from ._outcomes import WorkerStats
from ._slots import IdlePolicy

__all__ = ["WorkerBase", "logger"]

logger = logging.getLogger("supabase_jobs.worker")
F = TypeVar("F", bound=Callable[..., Any])
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


def _positive(value: object, name: str, *, integer: bool = False) -> Any:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not value > 0:  # type: ignore[operator]
        kind = "a positive integer" if integer else "a positive number of seconds"
        raise ConfigurationError(f"{name} must be {kind}")
    return value


def _names(value: Iterable[str] | None, name: str, check: Callable[..., str]) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise ConfigurationError(f"{name} must be a list of names, not one string")
    names = list(value)
    for index, item in enumerate(names):
        try:
            check(item, path=f"{name}[{index}]")
        except Exception as exc:
            raise ConfigurationError(str(exc)) from None
    if not names:
        raise ConfigurationError(f"{name} must not be empty (None for all)")
    return names


class WorkerBase:
    """Options and registration common to both workers (see ``Worker`` for the args)."""

    _is_async = False

    def __init__(
        self,
        jobs: Any,
        *,
        queues: Sequence[str] | None = None,
        types: Sequence[str] | None = None,
        concurrency: int = 8,
        lease_seconds: int = 60,
        timeout: float | None = None,
        poll_interval: float = 2.0,
        idle_poll_interval: float = 90.0,
        shutdown_timeout: float = 30.0,
        flush_timeout: float = 10.0,
        hooks: Iterable[WorkerHooks] = (),
        wakeup: Any = None,
        realtime: bool = True,
        worker_id: str | None = None,
        install_signal_handlers: bool | None = None,
    ) -> None:
        self.jobs = jobs
        self.queues = _names(queues, "queues", validate_queue_name)
        self.types = _names(types, "types", validate_type_name)
        self.concurrency = int(_positive(concurrency, "concurrency", integer=True))
        lease = _positive(lease_seconds, "lease_seconds", integer=True)
        if not 3 <= lease <= MAX_LEASE_SECONDS:
            raise ConfigurationError(f"lease_seconds must be in 3..{MAX_LEASE_SECONDS}")
        self.lease_seconds = int(lease)
        self.poll_interval = float(_positive(poll_interval, "poll_interval"))
        self.idle_poll_interval = float(_positive(idle_poll_interval, "idle_poll_interval"))
        self.shutdown_timeout = float(_positive(shutdown_timeout, "shutdown_timeout"))
        self.flush_timeout = float(_positive(flush_timeout, "flush_timeout"))
        self.handlers = Handlers(is_async=self._is_async, default_timeout=timeout)
        # Hooks registered process-wide (``supabase_jobs.otel.instrument()``) come first, so
        # the tracing span is current while the user's own hooks run.
        self.hooks = HookSet([*_observe.worker_hooks(), *hooks])
        if wakeup is not None and not all(
            hasattr(wakeup, name) for name in ("start", "stop", "healthy")
        ):
            raise ConfigurationError("wakeup needs start(wake), stop() and a healthy property")
        if not isinstance(realtime, bool):
            raise ConfigurationError("realtime must be True or False")
        self.realtime = realtime
        self._wakeup = wakeup
        self._default_wakeup: tuple[tuple[Any, ...], Any] | None = None
        self.worker_id = worker_id or (
            f"{socket.gethostname()[:100]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        )
        self.install_signal_handlers = install_signal_handlers
        self._core: WorkerCore | None = None
        self._last_stats = WorkerStats()
        self._schedules = ScheduleSet()

    # -- registration -----------------------------------------------------------------------

    def handler(self, job_type: str, *, timeout: float | None = None) -> Callable[[F], F]:
        """Decorator: run ``fn(job)`` (or ``fn(job, payload)``) for jobs of ``job_type``.

        Args:
            job_type: The job type this handler runs.
            timeout: Seconds before the attempt fails with a timeout (default: the
                worker's ``timeout``; ``None``: no limit).
        """

        def register(fn: F) -> F:
            self.handlers.register(job_type, fn, timeout)
            return fn

        return register

    def schedule(
        self,
        name: str,
        *,
        cron: str | None = None,
        every: timedelta | None = None,
        type: str,
        payload: Mapping[str, Any] | None = None,
        tenant_id: str | UUID,
        queue: str | None = None,
        timezone: str = "UTC",
        catch_up: CatchUp = "skip",
    ) -> Schedule:
        """Enqueue a job periodically while this worker runs (docs/scheduling.md).

        Every replica may declare the same schedules: each slot becomes one job, whoever
        enqueues it first (a keyed dispatch per slot, no leader). ``run(drain=True)`` does
        not wait for future slots.

        Args:
            name: Unique per worker; part of every slot's idempotency key.
            cron: A five-field cron expression read in ``timezone``.
            every: A fixed interval instead (at least 1 s).
            type: The job type enqueued.
            payload: The job payload.
            tenant_id: The tenant the jobs belong to.
            queue: The queue (``None``: the client's default).
            timezone: IANA zone for ``cron`` (DST handled by croniter).
            catch_up: After downtime, ``"skip"`` missed slots or run the ``"last"`` one.

        Returns:
            The validated :class:`~supabase_jobs.Schedule`.

        Raises:
            ValidationError: A bad field (``.path`` names it) or a name already used.
        """
        return self._schedules.add(
            name,
            cron=cron,
            every=every,
            type=type,
            payload=payload,
            tenant_id=tenant_id,
            queue=queue,
            timezone=timezone,
            catch_up=catch_up,
        )

    @property
    def schedules(self) -> list[Schedule]:
        """The schedules declared with :meth:`schedule`, in order."""
        return self._schedules.schedules

    def _schedule_lane_wanted(self, drain: bool) -> bool:
        return not drain and bool(self._schedules.schedules)

    def add_hooks(self, *hooks: WorkerHooks) -> None:
        """Register lifecycle hooks (see :class:`WorkerHooks`)."""
        self.hooks.add(hooks)

    def stats(self) -> WorkerStats:
        """In flight, outcome counters and uptime (the last run's final ones after it)."""
        core = self._core
        return self._last_stats if core is None else core.stats(time.monotonic())

    # -- shared plumbing --------------------------------------------------------------------

    @property
    def config(self) -> JobsConfig:
        """The client's configuration (result size limit, scrub mode)."""
        config: JobsConfig = self.jobs.config
        return config

    @property
    def registry(self) -> JobTypeRegistry:
        """The client's job type registry (payload models)."""
        registry: JobTypeRegistry = self.jobs.registry
        return registry

    def _claim_types(self) -> list[str]:
        types = self.types or sorted(self.handlers.by_type)
        if not types:
            raise ConfigurationError("register at least one @worker.handler before run()")
        return types

    def _new_core(self, drain: bool) -> WorkerCore:
        self._claim_types()
        options = CoreOptions(
            concurrency=self.concurrency,
            lease_seconds=self.lease_seconds,
            shutdown_timeout=self.shutdown_timeout,
            flush_timeout=self.flush_timeout,
            idle=IdlePolicy(self.poll_interval, self.idle_poll_interval),
            drain=drain,
        )
        return WorkerCore(options, self.config, started=time.monotonic())

    @property
    def wakeup(self) -> Any:
        """The wake-up source: the one given, else (``realtime``) Realtime on the queues."""
        if self._wakeup is not None or not self.realtime:
            return self._wakeup
        # Built on first use, for the client and queues as they are then (the CLI may set
        # them late, a worker may get its async client inside its loop).
        queues = None if self.queues is None else tuple(self.queues)
        key = (id(self.jobs), queues)
        if self._default_wakeup is None or self._default_wakeup[0] != key:
            self._default_wakeup = (key, self._realtime_wakeup(queues))
        return self._default_wakeup[1]

    @wakeup.setter
    def wakeup(self, value: Any) -> None:
        self._wakeup = value

    def _realtime_wakeup(self, queues: Sequence[str] | None) -> Any:
        """The default wake-up source: Realtime on the client's project, service-role key.

        Without a list of queues it hears only ``default`` (docs/worker.md), so the safety
        net keeps the short ``poll_interval`` for the others (:meth:`_wakeup_healthy`).
        """
        supabase = getattr(self.jobs, "_client", None)
        if not isinstance(getattr(supabase, "supabase_key", None), str) or not hasattr(
            supabase, "realtime_url"
        ):
            return None  # not a supabase-backed client (a test double): polling only
        queues = queues or ["default"]
        if self._is_async:
            from .._realtime import AsyncRealtimeWakeup

            return AsyncRealtimeWakeup(supabase, queues)
        from .._realtime_sync import RealtimeWakeup

        return RealtimeWakeup(supabase, queues)

    def _wakeup_healthy(self) -> bool:
        if self.wakeup is None or (self._wakeup is None and self.queues is None):
            return False
        try:
            return bool(self.wakeup.healthy)
        except Exception:
            return False

    def _asks_next_due(self, core: WorkerCore) -> bool:
        """After an empty claim: is the idle wait long enough to ask for the next due job?"""
        return hasattr(self.jobs, "next_due") and core.slots.idle_wait(time.monotonic()) > 1.0

    def _wanted(self, queue: str) -> bool:
        return self.queues is None or queue in self.queues

    @staticmethod
    def _log_lane(log: LaneLog | None) -> None:
        if log is not None:
            logger.log(_LEVELS.get(log.level, logging.ERROR), log.message, extra={"action": "lane"})

    def _log_acked(self, acked: list[Acked]) -> None:
        for item in acked:
            _log_outcome(item.job, item.outcome.kind, item.outcome.duration, item.outcome.error)
            if item.outcome.kind == "lease_lost":
                self.hooks.lease_lost(item.job)


def _log_outcome(job: Job, kind: str, duration: float, error: str | None) -> None:
    """One structured line per outcome: ids and numbers, never a payload or result."""
    logger.info(
        "job %s %s: %s (attempt %d, %.3f s)",
        job.id,
        job.type,
        kind,
        job.attempts,
        duration,
        extra={
            "action": "job_outcome",
            "job_id": str(job.id),
            "job_type": job.type,
            "tenant_id": str(job.tenant_id),
            "queue": job.queue,
            "attempt": job.attempts,
            "duration": round(duration, 6),
            "outcome": kind,
            "error": error,
        },
    )
