"""``perform``: run one job handler inline with a real :class:`Job` (for users' tests).

Exported by ``supabase_jobs.testing``. The job is built by ``dispatch``'s own validation
and scrubbing (:func:`._core.prepare_dispatch`) and looks like a claimed job; the result
goes through ``complete``'s cleaning. Nothing is sent anywhere.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from ._async._client import AsyncJobsClient
from ._constants import DEFAULT_JOB_TYPES, DEFAULT_LEASE_SECONDS
from ._core import prepare_dispatch
from ._errors import ConfigurationError, ValidationError
from ._models import Job, JobStatus
from ._registry import JobTypeRegistry
from ._rpc import clean_result
from ._settings import JobsConfig
from ._sync._client import JobsClient

__all__ = ["Handler", "perform", "perform_async"]

#: A job handler as the worker calls it: ``handler(job)`` or ``handler(job, payload)``
#: (the payload validated by the type's registered model), returning the result (or a
#: coroutine).
Handler = Callable[..., Any]


def _wants_payload(handler: Handler) -> bool:
    """Whether ``handler`` takes a second positional parameter (the worker's convention)."""
    try:
        params = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):
        return False
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return True
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in params if p.kind in kinds) >= 2


def _call(handler: Handler, job: Job, registry: JobTypeRegistry) -> Any:
    if not _wants_payload(handler):
        return handler(job)
    model = registry.get(job.type).model
    return handler(job, job.payload if model is None else model.model_validate(job.payload))


def _performed_job(
    handler_or_type: Handler | str,
    payload: object,
    *,
    handlers: Mapping[str, Handler] | None,
    jobs: JobsClient | AsyncJobsClient | None,
    type: str | None,
    tenant_id: object,
    options: dict[str, Any],
    attempt: int,
) -> tuple[Handler, Job, JobsConfig, JobTypeRegistry]:
    """Resolve the handler and build the :class:`Job` it gets, as a claim would return it."""
    if isinstance(handler_or_type, str):
        if type is not None and type != handler_or_type:
            raise ValidationError("type", "differs from the job type given first")
        type = handler_or_type
        if handlers is None or type not in handlers:
            raise ValidationError("handler_or_type", "no handler for this type in handlers")
        handler = handlers[type]
    elif callable(handler_or_type):
        handler = handler_or_type
    else:
        raise ValidationError("handler_or_type", "must be a handler or a job type name")
    name = type if type is not None else "test_job"
    if jobs is not None:
        config, registry = jobs.config, jobs.registry
    else:
        config = JobsConfig()
        registry = JobTypeRegistry(dict.fromkeys((*DEFAULT_JOB_TYPES, name)))
    tenant = tenant_id if tenant_id is not None else uuid.uuid4()
    prepared = prepare_dispatch(config, registry, tenant, name, payload, **options)
    row = prepared.row
    max_attempts = row.get("max_attempts", config.default_max_attempts)
    if (
        isinstance(attempt, bool)
        or not isinstance(attempt, int)
        or not 1 <= attempt <= max_attempts
    ):
        raise ValidationError("attempt", f"must be an integer in 1..{max_attempts}")
    now = datetime.now(timezone.utc)
    job = Job(
        id=row.get("id") or uuid.uuid4(),
        tenant_id=prepared.tenant_id,
        type=prepared.type,
        status=JobStatus.PROCESSING,
        payload=row["payload"],
        attempts=attempt,
        worker_id="supabase_jobs.testing.perform",
        created_at=now,
        queue=row.get("queue", config.default_queue),
        priority=row.get("priority", config.default_priority),
        run_at=row.get("run_at", now),
        max_attempts=max_attempts,
        lease_id=uuid.uuid4(),
        locked_until=now + timedelta(seconds=DEFAULT_LEASE_SECONDS),
        heartbeat_at=now,
        idempotency_key=prepared.idempotency_key,
        started_at=now,
        updated_at=now,
    )
    return handler, job, config, registry


def perform(
    handler_or_type: Handler | str,
    payload: Mapping[str, Any] | None = None,
    *,
    handlers: Mapping[str, Handler] | None = None,
    jobs: JobsClient | AsyncJobsClient | None = None,
    type: str | None = None,
    tenant_id: str | uuid.UUID | None = None,
    queue: str | None = None,
    priority: int | None = None,
    max_attempts: int | None = None,
    idempotency_key: str | None = None,
    attempt: int = 1,
) -> Any:
    """Run one handler with a real :class:`Job`, without dispatching or claiming.

    The payload goes through ``dispatch``'s validation and secret scrubbing, so the
    handler sees exactly what a worker would read back; the job is ``processing`` with
    a lease, as ``claim`` returns it. The queue is not touched. An exception raised by
    the handler propagates. An ``async def`` handler is run to completion (inside an
    event loop, use :func:`perform_async`).

    Example::

        def resize(job: Job) -> dict:
            return {"width": job.payload["width"] // 2}

        assert perform(resize, {"width": 640}, type="resize_image") == {"width": 320}

    Args:
        handler_or_type: ``handler(job)`` or ``handler(job, payload)`` (as the worker
            calls it: the payload validated by the type's registered model), or a type
            name looked up in ``handlers``.
        payload: The payload (a ``dict``); ``None`` means ``{}``.
        handlers: Type name -> handler, when ``handler_or_type`` is a name.
        jobs: A client whose registry and limits apply (its registered payload models
            validate the payload); default: the default config, and any type name.
        type: The job type when ``handler_or_type`` is a handler (default ``test_job``).
        tenant_id: The tenant (default: a random one).
        queue: As for ``dispatch``.
        priority: As for ``dispatch``.
        max_attempts: As for ``dispatch``.
        idempotency_key: As for ``dispatch`` (the job gets the derived id).
        attempt: Which attempt this is (``job.attempts``), 1..max_attempts.

    Returns:
        The handler's result, validated and scrubbed as ``complete`` would store it.

    Raises:
        ValidationError: A bad payload, type or option (the handler was not called).
        PayloadValidationError: The result is not JSON-native (path ``result``).
    """
    handler, job, config, registry = _performed_job(
        handler_or_type,
        payload,
        handlers=handlers,
        jobs=jobs,
        type=type,
        tenant_id=tenant_id,
        options={
            "queue": queue,
            "priority": priority,
            "max_attempts": max_attempts,
            "idempotency_key": idempotency_key,
        },
        attempt=attempt,
    )
    result = _call(handler, job, registry)
    if inspect.isawaitable(result):
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            result = asyncio.run(_awaited(result))
        else:
            if inspect.iscoroutine(result):
                result.close()  # never awaited: no "coroutine was never awaited" warning
            raise ConfigurationError(
                "perform() got an async handler inside a running event loop: use perform_async"
            )
    return clean_result(result, config)


async def _awaited(value: Any) -> Any:
    return await value


async def perform_async(
    handler_or_type: Handler | str,
    payload: Mapping[str, Any] | None = None,
    *,
    handlers: Mapping[str, Handler] | None = None,
    jobs: JobsClient | AsyncJobsClient | None = None,
    type: str | None = None,
    tenant_id: str | uuid.UUID | None = None,
    queue: str | None = None,
    priority: int | None = None,
    max_attempts: int | None = None,
    idempotency_key: str | None = None,
    attempt: int = 1,
) -> Any:
    """:func:`perform` awaiting the handler (sync and ``async def`` handlers both work)."""
    handler, job, config, registry = _performed_job(
        handler_or_type,
        payload,
        handlers=handlers,
        jobs=jobs,
        type=type,
        tenant_id=tenant_id,
        options={
            "queue": queue,
            "priority": priority,
            "max_attempts": max_attempts,
            "idempotency_key": idempotency_key,
        },
        attempt=attempt,
    )
    result = _call(handler, job, registry)
    if inspect.isawaitable(result):
        result = await result
    return clean_result(result, config)
