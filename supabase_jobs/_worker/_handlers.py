"""Handler registration: ``@worker.handler(type, timeout=...)`` and calling conventions.

A handler takes the claimed :class:`Job`, and optionally a second parameter: the payload
validated by the type's registered pydantic model (the plain dict when no model is
registered). A payload the model rejects will not heal on retry, so it fails the job for
good (``Fail(retry=False)``) without calling the handler.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pydantic

from .._errors import ConfigurationError, JobsError
from .._models import Job
from .._registry import JobTypeRegistry
from .._validate import validate_type_name
from ._outcomes import Fail

__all__ = ["Handler", "Handlers"]


@dataclass(frozen=True)
class Handler:
    """A registered handler."""

    type: str
    fn: Callable[..., Any]
    timeout: float | None
    wants_payload: bool
    is_async: bool


def _positional_count(fn: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 2
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in params if p.kind in kinds)


def _timeout(value: object, path: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(f"{path} must be a positive number of seconds or None")
    return float(value)


class Handlers:
    """The handlers of one worker, by job type."""

    def __init__(self, *, is_async: bool, default_timeout: float | None) -> None:
        self.is_async = is_async
        self.default_timeout = _timeout(default_timeout, "timeout")
        self.by_type: dict[str, Handler] = {}

    def register(self, job_type: str, fn: Callable[..., Any], timeout: float | None) -> Handler:
        """Register ``fn`` for ``job_type`` (one handler per type)."""
        try:
            validate_type_name(job_type, path="type")
        except JobsError as exc:
            raise ConfigurationError(str(exc)) from None
        if job_type in self.by_type:
            raise ConfigurationError(f"a handler for {job_type!r} is already registered")
        is_async = inspect.iscoroutinefunction(fn)
        if is_async != self.is_async:
            kind = "an async def" if self.is_async else "a plain def (not async)"
            raise ConfigurationError(f"handler for {job_type!r} must be {kind} function")
        count = _positional_count(fn)
        if count < 1:
            raise ConfigurationError(f"handler for {job_type!r} must take the job")
        handler = Handler(
            job_type,
            fn,
            _timeout(timeout, f"timeout of {job_type!r}") or self.default_timeout,
            count >= 2,
            is_async,
        )
        self.by_type[job_type] = handler
        return handler

    def timeouts(self) -> dict[str, float | None]:
        """Each type's timeout (the core arms sync deadlines with them)."""
        return {name: h.timeout for name, h in self.by_type.items()}

    def arguments(self, job: Job, registry: JobTypeRegistry) -> tuple[Handler, tuple[Any, ...]]:
        """The handler for ``job`` and its arguments.

        Raises:
            Fail: No handler for the type, or the payload does not match the model
                (``retry=False``: neither heals by itself).
        """
        handler = self.by_type.get(job.type)
        if handler is None:
            raise Fail(f"no handler for job type {job.type!r}", retry=False)
        if not handler.wants_payload:
            return handler, (job,)
        model = registry.get(job.type).model if job.type in registry else None
        if model is None:
            return handler, (job, job.payload)
        try:
            payload = model.model_validate(job.payload)
        except pydantic.ValidationError as exc:
            fields = sorted({".".join(str(p) for p in e["loc"]) or "payload" for e in exc.errors()})
            raise Fail(
                f"payload does not match {model.__name__}: invalid {', '.join(fields[:5])}",
                retry=False,
            ) from None
        return handler, (job, payload)
