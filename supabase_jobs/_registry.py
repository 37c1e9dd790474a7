"""Job types: stable names, an optional pydantic payload model, per-type defaults.

A job's ``type`` column is a stable string, never a Python class name, so rows written by
the existing TypeScript ``dispatchJob()`` and by older deploys stay runnable after code
moves. The registry starts with the six types the existing app allows; apps add theirs::

    registry = JobTypeRegistry()
    registry.register("send_email", queue="mail", max_attempts=10)

    @registry.register("resize_image", priority=5)
    class ResizeImage(BaseModel):
        url: str
        width: int
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import BaseModel

from ._constants import (
    DEFAULT_JOB_TYPES,
    MAX_MAX_ATTEMPTS,
    MAX_PRIORITY,
    MIN_PRIORITY,
    QUEUE_NAME_PATTERN,
    TYPE_NAME_PATTERN,
)
from ._errors import ConfigurationError, UnknownJobTypeError
from ._validate import is_queue_name, is_type_name

__all__ = ["JobType", "JobTypeRegistry"]

ModelT = TypeVar("ModelT", bound=type[BaseModel])


@dataclass(frozen=True)
class JobType:
    """A registered job type and its defaults (``None`` = fall back to the client's).

    Calling it with a pydantic model class attaches the model and returns the class
    unchanged, which is what makes ``@registry.register("name")`` work as a decorator.

    Attributes:
        name: The value stored in the ``type`` column.
        model: Validates payloads of this type before dispatch, when set.
        queue: Default queue for this type.
        priority: Default priority (-100..100, higher runs first).
        max_attempts: Default attempt budget (1..1000).
    """

    name: str
    model: type[BaseModel] | None = None
    queue: str | None = None
    priority: int | None = None
    max_attempts: int | None = None
    _registry: JobTypeRegistry | None = field(default=None, repr=False, compare=False)

    def __call__(self, model: ModelT) -> ModelT:
        if self._registry is None:
            raise ConfigurationError(f"job type {self.name!r} is not attached to a registry")
        self._registry.register(
            self.name,
            model,
            queue=self.queue,
            priority=self.priority,
            max_attempts=self.max_attempts,
        )
        return model


def _check_defaults(
    name: str, model: object, queue: str | None, priority: int | None, max_attempts: int | None
) -> None:
    if not is_type_name(name):
        raise ConfigurationError(f"job type name must match {TYPE_NAME_PATTERN}")
    if model is not None and not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ConfigurationError(f"job type {name!r}: model must be a pydantic BaseModel class")
    if queue is not None and not is_queue_name(queue):
        raise ConfigurationError(f"job type {name!r}: queue must match {QUEUE_NAME_PATTERN}")
    if priority is not None and (
        type(priority) is not int or not MIN_PRIORITY <= priority <= MAX_PRIORITY
    ):
        raise ConfigurationError(
            f"job type {name!r}: priority must be an int in {MIN_PRIORITY}..{MAX_PRIORITY}"
        )
    if max_attempts is not None and (
        type(max_attempts) is not int or not 1 <= max_attempts <= MAX_MAX_ATTEMPTS
    ):
        raise ConfigurationError(
            f"job type {name!r}: max_attempts must be an int in 1..{MAX_MAX_ATTEMPTS}"
        )


class JobTypeRegistry:
    """The job types a client accepts; anything else is rejected before any request.

    Args:
        types: Initial type names (without models). Defaults to the six types of the
            existing app: ``ai_generation``, ``video_ingestion``, ``document_indexing``,
            ``document_export``, ``tenant_cleanup`` and ``test_job``.
    """

    def __init__(self, types: Iterable[str] = DEFAULT_JOB_TYPES) -> None:
        self._types: dict[str, JobType] = {}
        for name in types:
            self.register(name)

    def register(
        self,
        name: str,
        model: type[BaseModel] | None = None,
        *,
        queue: str | None = None,
        priority: int | None = None,
        max_attempts: int | None = None,
    ) -> JobType:
        """Register (or replace) a job type.

        Args:
            name: The ``type`` column value; must match ``^[a-z][a-z0-9_.:-]{0,126}$``.
            model: A pydantic model payloads must validate against.
            queue: Default queue for the type (a call's ``queue=`` still wins).
            priority: Default priority for the type.
            max_attempts: Default attempt budget for the type.

        Returns:
            The registered :class:`JobType`; it can decorate a model class to attach it.

        Raises:
            ConfigurationError: A malformed name, model or default.
        """
        _check_defaults(name, model, queue, priority, max_attempts)
        spec = JobType(name, model, queue, priority, max_attempts, _registry=self)
        self._types[name] = spec
        return spec

    def get(self, name: object, *, path: str = "type") -> JobType:
        """Return the registered type called ``name``.

        Args:
            name: The type name.
            path: The field path reported on failure (``jobs[3].type`` in a batch).

        Raises:
            UnknownJobTypeError: ``name`` is not a registered type.
        """
        spec = self._types.get(name) if isinstance(name, str) else None
        if spec is None:
            raise UnknownJobTypeError(
                path, "is not a registered job type (register it with JobTypeRegistry.register)"
            )
        return spec

    def names(self) -> list[str]:
        """The registered type names, sorted."""
        return sorted(self._types)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._types

    def __iter__(self) -> Iterator[JobType]:
        return iter(self._types.values())

    def __len__(self) -> int:
        return len(self._types)

    def __repr__(self) -> str:
        return f"JobTypeRegistry({self.names()!r})"
