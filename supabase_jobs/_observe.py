"""Where tracing and metrics attach to dispatch and to workers, without the core importing them.

The clients call :func:`observe_dispatch` around every insert; a worker adds
:func:`worker_hooks` to the hooks it was given. Both cost one list check when nothing is
registered, which is the case unless ``supabase_jobs.otel.instrument()`` (the ``[otel]``
extra) or your own code called :func:`register`. Registration is process-wide on purpose:
like every OpenTelemetry instrumentation, it is switched on once at start-up, not per client.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, MutableMapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ._models import Job
    from ._worker._hooks import WorkerHooks

__all__ = [
    "DispatchObserver",
    "DispatchScope",
    "observe_dispatch",
    "register",
    "registered",
    "unregister",
    "worker_hooks",
]


class DispatchScope(Protocol):
    """What an observer learns once the insert answered."""

    def dispatched(self, jobs: Sequence[Job]) -> None:
        """The jobs the database returned, in input order."""


class DispatchObserver(Protocol):
    """Watches dispatches; ``supabase_jobs.otel`` is the one the SDK ships."""

    def dispatch(
        self, rows: Sequence[MutableMapping[str, Any]]
    ) -> AbstractContextManager[DispatchScope]:
        """Enter before the insert is sent, exit after it answered or raised.

        The observer may add columns to ``rows`` (the trace context); it must not change
        the ones the SDK built. An exception from the insert passes through the context
        manager, so the observer can record it.
        """

    def hooks(self) -> WorkerHooks | None:
        """A ``WorkerHooks`` instance that every worker should add, or ``None``."""


class _NoScope:
    def dispatched(self, jobs: Sequence[Job]) -> None:
        return None


_NO_SCOPE = _NoScope()
_NOTHING: AbstractContextManager[DispatchScope] = nullcontext(_NO_SCOPE)
_lock = threading.Lock()
# Replaced, never mutated, so readers need no lock.
_observers: tuple[DispatchObserver, ...] = ()


def register(observer: DispatchObserver) -> None:
    """Add ``observer`` for every client and worker in this process (idempotent)."""
    global _observers
    with _lock:
        if observer not in _observers:
            _observers = (*_observers, observer)


def unregister(observer: DispatchObserver) -> None:
    """Remove ``observer``; unknown observers are ignored."""
    global _observers
    with _lock:
        _observers = tuple(o for o in _observers if o is not observer)


def registered() -> tuple[DispatchObserver, ...]:
    """The observers registered now, in registration order."""
    return _observers


def observe_dispatch(
    rows: Sequence[MutableMapping[str, Any]],
) -> AbstractContextManager[DispatchScope]:
    """The context manager a client wraps around one insert of ``rows``."""
    observers = _observers
    if not observers:
        return _NOTHING
    if len(observers) == 1:
        return observers[0].dispatch(rows)
    return _all(observers, rows)


class _Fanout:
    def __init__(self, scopes: list[DispatchScope]) -> None:
        self._scopes = scopes

    def dispatched(self, jobs: Sequence[Job]) -> None:
        for scope in self._scopes:
            scope.dispatched(jobs)


@contextmanager
def _all(
    observers: Sequence[DispatchObserver], rows: Sequence[MutableMapping[str, Any]]
) -> Iterator[DispatchScope]:
    from contextlib import ExitStack

    with ExitStack() as stack:
        scopes = [stack.enter_context(o.dispatch(rows)) for o in observers]
        yield _Fanout(scopes)


def worker_hooks() -> list[WorkerHooks]:
    """The hooks registered observers want on every worker."""
    found = (o.hooks() for o in _observers)
    return [h for h in found if h is not None]
