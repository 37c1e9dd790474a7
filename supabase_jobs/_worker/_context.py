"""The running job's context: ``job_context()`` inside a handler.

A sync handler cannot be interrupted, so it is *told*: ``job_context().cancelled`` turns
true when its lease is lost (the job was cancelled, or expired and taken over), when it ran
past its timeout, or when the worker hands it back at shutdown; ``cancel_reason`` says
which. Long handlers should check it (or sleep with ``job_context().wait(seconds)``, which
returns early on cancellation) and stop: their outcome is dropped anyway. Async handlers
are cancelled outright (``asyncio.CancelledError``) and may read the same context.
"""

from __future__ import annotations

import contextvars
import threading

from .._errors import AttemptCancelledError
from .._models import Job

__all__ = ["AttemptCancelledError", "JobContext", "job_context"]

_CURRENT: contextvars.ContextVar[JobContext] = contextvars.ContextVar("supabase_jobs_job")


class JobContext:
    """What a handler may ask about the job it runs.

    Attributes:
        job: The claimed job (with its lease).
    """

    def __init__(self, job: Job) -> None:
        self.job = job
        self._event = threading.Event()
        self._reason: str | None = None

    @property
    def cancelled(self) -> bool:
        """Whether the handler should stop: its outcome will be dropped."""
        return self._event.is_set()

    @property
    def cancel_reason(self) -> str | None:
        """``lease_lost``, ``timeout`` or ``shutdown`` once cancelled, else ``None``."""
        return self._reason

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds; returns ``True`` early if cancelled."""
        return self._event.wait(timeout)

    def raise_if_cancelled(self) -> None:
        """Raise :class:`AttemptCancelledError` when cancelled (a convenient exit point)."""
        if self._event.is_set():
            raise AttemptCancelledError(f"job {self.job.id} cancelled: {self._reason}")

    def cancel(self, reason: str) -> None:
        """Tell the handler to stop (the worker calls this)."""
        if self._reason is None:
            self._reason = reason
        self._event.set()

    def __repr__(self) -> str:
        return f"JobContext(job_id={str(self.job.id)!r}, cancelled={self.cancelled})"


def job_context() -> JobContext:
    """The context of the job the current handler runs.

    Raises:
        RuntimeError: Called outside a worker's handler.
    """
    try:
        return _CURRENT.get()
    except LookupError:
        raise RuntimeError("job_context() is only available inside a worker handler") from None


def enter(context: JobContext) -> contextvars.Token[JobContext]:
    """Make ``context`` current (the driver calls this in the handler's thread or task)."""
    return _CURRENT.set(context)


def leave(token: contextvars.Token[JobContext]) -> None:
    """Undo :func:`enter`."""
    _CURRENT.reset(token)
