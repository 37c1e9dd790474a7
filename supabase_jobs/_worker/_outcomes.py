"""What a handler's return or raise means: the outcome types and the pure mapping.

A returned value completes the job (after it is checked to be storable); ``Snooze``,
``Cancel`` and ``Fail`` are raised (or returned) to choose another outcome; any other
exception is a failed attempt retried with the SQL backoff until ``max_attempts``.
Nothing here does I/O: the worker core turns a :class:`Settlement` into a batched call.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from .._constants import DEFAULT_MAX_ATTEMPTS
from .._errors import JobTimeoutError, PayloadValidationError, UnstorableResultError
from .._models import Job
from .._rpc import clean_result, error_entry
from .._settings import JobsConfig

__all__ = [
    "Cancel",
    "Fail",
    "JobOutcome",
    "JobTimeoutError",
    "OutcomeKind",
    "Settlement",
    "Snooze",
    "UnstorableResultError",
    "WorkerStats",
    "map_outcome",
    "released",
    "timed_out",
]

OutcomeKind = Literal[
    "completed", "retried", "failed", "snoozed", "cancelled", "lease_lost", "released"
]
#: ``BaseExceptionGroup`` (Python 3.11+; absent on 3.10).
_GROUP: Any = getattr(builtins, "BaseExceptionGroup", None)
#: How long a shown error may be (the stored one is cut at 4000 by the SQL).
_SHOWN_ERROR_LENGTH = 500


def _seconds(value: float | timedelta, name: str) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        raise ValueError(f"{name} must be a non-negative number of seconds or a timedelta")
    return float(seconds)


class Snooze(Exception):
    """Raise to put the job back to pending for ``delay`` seconds; no attempt is spent.

    Args:
        delay: Seconds (or a ``timedelta``) before the job is due again.
    """

    def __init__(self, delay: float | timedelta = 0) -> None:
        self.delay = _seconds(delay, "Snooze delay")
        super().__init__(f"snoozed for {self.delay:g} s")


class Cancel(Exception):
    """Raise to cancel the job for good (never retried).

    Args:
        reason: Stored as the job's ``last_error`` (scrubbed of secrets).
    """

    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason
        super().__init__(reason or "cancelled by its handler")


class Fail(Exception):
    """Raise to fail the attempt with a chosen retry policy.

    Args:
        reason: The error message stored with the attempt (scrubbed).
        retry: ``False`` fails the job for good, whatever attempts are left.
        retry_in: Retry after this many seconds instead of the SQL backoff.
    """

    def __init__(
        self, reason: str, *, retry: bool = True, retry_in: float | timedelta | None = None
    ) -> None:
        self.reason = reason
        self.retry = bool(retry)
        self.retry_in = None if retry_in is None else _seconds(retry_in, "Fail retry_in")
        super().__init__(reason)


for _cls in (Snooze, Cancel, Fail):
    _cls.__module__ = "supabase_jobs"  # stored error types read "supabase_jobs.Name"


@dataclass(frozen=True)
class JobOutcome:
    """How one attempt ended, as the hooks and the log line see it.

    Attributes:
        kind: ``completed``; ``retried`` (a failed attempt that will be retried); ``failed``
            (terminal); ``snoozed``; ``cancelled``; ``lease_lost`` (the outcome was
            dropped); ``released`` (handed back at shutdown, no attempt spent).
        duration: Seconds the handler ran.
        error: The scrubbed error text (type and message), never a payload or result.
        retry_in: Seconds until the job is due again, when the worker chose it.
    """

    kind: OutcomeKind
    duration: float
    error: str | None = None
    retry_in: float | None = None


@dataclass(frozen=True)
class Settlement:
    """The write one outcome needs: which batched call, and its arguments."""

    job: Job
    action: Literal["complete", "fail", "snooze", "cancel"]
    outcome: JobOutcome
    result: Any = None
    error: BaseException | str | None = None
    retry: bool = True
    retry_in: float | None = None
    delay: float = 0.0
    reason: str | None = None


def _shown(error: BaseException | str) -> str:
    entry = error_entry(error)
    text = f"{entry['type']}: {entry['message']}" if entry["type"] else entry["message"]
    return str(text)[:_SHOWN_ERROR_LENGTH]


def _unwrap(error: BaseException) -> BaseException:
    """An exception group whose leaves are all one outcome type means that outcome."""
    if _GROUP is not None and isinstance(error, _GROUP):
        leaves = _leaves(error)
        kinds = {type(leaf) for leaf in leaves}
        if len(kinds) == 1 and issubclass(next(iter(kinds)), (Snooze, Cancel, Fail)):
            return leaves[0]
    return error


def _leaves(group: Any) -> list[BaseException]:
    found: list[BaseException] = []
    for inner in group.exceptions:
        found.extend(_leaves(inner) if isinstance(inner, _GROUP) else [inner])
    return found


def _will_retry(job: Job) -> bool:
    return job.attempts < (job.max_attempts or DEFAULT_MAX_ATTEMPTS)


def _failure(
    job: Job, error: BaseException | str, duration: float, *, retry: bool, retry_in: float | None
) -> Settlement:
    kind: OutcomeKind = "retried" if retry and _will_retry(job) else "failed"
    outcome = JobOutcome(kind, duration, _shown(error), retry_in if kind == "retried" else None)
    return Settlement(job, "fail", outcome, error=error, retry=retry, retry_in=retry_in)


def map_outcome(
    job: Job,
    config: JobsConfig,
    duration: float,
    *,
    returned: Any = None,
    raised: BaseException | None = None,
) -> Settlement:
    """Map what a handler returned or raised to the write that records it.

    A returned ``Snooze``/``Cancel``/``Fail`` counts as raised. A result is validated and
    scrubbed here, before it is batched: one that cannot be stored fails the job without
    retry, recording why (never the value). ``BaseException``s (``SystemExit``,
    ``KeyboardInterrupt`` raised by handler code) are failed attempts like any exception.
    """
    if raised is None and isinstance(returned, (Snooze, Cancel, Fail)):
        raised, returned = returned, None
    if raised is not None:
        raised = _unwrap(raised)
        if isinstance(raised, Snooze):
            outcome = JobOutcome("snoozed", duration, None, raised.delay)
            return Settlement(job, "snooze", outcome, delay=raised.delay)
        if isinstance(raised, Cancel):
            shown = None if raised.reason is None else _shown(raised.reason)
            return Settlement(
                job, "cancel", JobOutcome("cancelled", duration, shown), reason=raised.reason
            )
        if isinstance(raised, Fail):
            return _failure(job, raised, duration, retry=raised.retry, retry_in=raised.retry_in)
        return _failure(job, raised, duration, retry=True, retry_in=None)
    try:
        result = clean_result(returned, config)
    except PayloadValidationError as exc:
        error = UnstorableResultError(f"the handler's result cannot be stored: {exc}")
        return _failure(job, error, duration, retry=False, retry_in=None)
    except Exception as exc:  # a hostile object (a __len__ that raises...) is not storable
        error = UnstorableResultError(
            f"the handler's result cannot be stored: {type(exc).__name__}"
        )
        return _failure(job, error, duration, retry=False, retry_in=None)
    return Settlement(job, "complete", JobOutcome("completed", duration), result=result)


def timed_out(job: Job, timeout: float, duration: float) -> Settlement:
    """The failed attempt of a handler that ran past ``timeout`` (retried with backoff)."""
    error = JobTimeoutError(f"the handler ran past its {timeout:g} s timeout")
    return _failure(job, error, duration, retry=True, retry_in=None)


def released(job: Job, duration: float) -> Settlement:
    """A hand-back at shutdown: pending again at once, the claim's attempt given back."""
    return Settlement(job, "snooze", JobOutcome("released", duration), delay=0.0)


@dataclass(frozen=True)
class WorkerStats:
    """Counters of one worker (``worker.stats()``; ``run()`` returns the final ones).

    Attributes:
        in_flight: Handlers running now. stuck: Of those, slots held by a handler that
            timed out (a sync thread cannot be killed). completed / retried / failed /
            snoozed / cancelled / released / lease_lost: Outcomes written (``lease_lost``:
            dropped because the lease was gone). unsettled: Outcomes not (yet) written.
        uptime: Seconds since ``run()`` started. exit_code: See ``docs/worker.md``.
        reason: Why the worker stopped (or ``running``).
    """

    in_flight: int = 0
    stuck: int = 0
    completed: int = 0
    retried: int = 0
    failed: int = 0
    snoozed: int = 0
    cancelled: int = 0
    released: int = 0
    lease_lost: int = 0
    unsettled: int = 0
    uptime: float = 0.0
    exit_code: int | None = None
    reason: str = "running"
