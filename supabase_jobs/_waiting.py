"""Sans-I/O part of ``wait()``: argument checks, the poll schedule and the finished-job verdict.

``jobs.wait(job, timeout=...)`` polls ``GET jobs?id=eq.<id>`` until the job is terminal.
The delays between polls grow exponentially from ``poll_interval`` up to
``max_poll_interval``, each shortened by up to :data:`JITTER` at random, so producers
waiting for jobs dispatched at the same moment do not poll in lock step, and a long wait
costs a handful of requests per minute. The last delay is cut so the final poll happens at the
deadline, not after it.

The errors raised for a job that did not complete carry the job and its scrubbed
``last_error`` as attributes; their messages name the job and its status, never a
payload, result or error text (those can hold user data).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from ._constants import (
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WAIT_TIMEOUT,
    MAX_WAIT_TIMEOUT,
    MIN_POLL_INTERVAL,
)
from ._errors import JobCancelledError, JobFailedError, ValidationError, WaitTimeoutError
from ._models import Job, JobStatus

__all__ = [
    "DEFAULT_MAX_POLL_INTERVAL",
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_WAIT_TIMEOUT",
    "JITTER",
    "MAX_WAIT_TIMEOUT",
    "JobCancelledError",
    "JobFailedError",
    "WaitPlan",
    "WaitTimeoutError",
    "finished",
    "poll_delays",
    "wait_plan",
]

BACKOFF_FACTOR = 2.0
#: Relative spread of each delay: it is shortened by 0..20% at random. Downwards only, so
#: delays at the cap still differ between waiters and none exceeds the cap.
JITTER = 0.2


@dataclass(frozen=True)
class WaitPlan:
    """Validated ``wait()`` arguments (seconds)."""

    timeout: float
    poll_interval: float
    max_poll_interval: float


def _seconds(value: object, path: str, *, low: float, high: float) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not low <= value <= high  # also refuses NaN
    ):
        raise ValidationError(
            path, f"must be a number of seconds (or timedelta) in {low:g}..{high:g}"
        )
    return float(value)


def wait_plan(timeout: object, poll_interval: object, max_poll_interval: object) -> WaitPlan:
    """Check ``wait()``'s numbers before any request is sent.

    Raises:
        ValidationError: Naming ``timeout``, ``poll_interval`` or ``max_poll_interval``.
    """
    limit = _seconds(timeout, "timeout", low=MIN_POLL_INTERVAL, high=MAX_WAIT_TIMEOUT)
    first = _seconds(poll_interval, "poll_interval", low=MIN_POLL_INTERVAL, high=MAX_WAIT_TIMEOUT)
    cap = _seconds(
        max_poll_interval, "max_poll_interval", low=MIN_POLL_INTERVAL, high=MAX_WAIT_TIMEOUT
    )
    if cap < first:
        raise ValidationError("max_poll_interval", "must not be smaller than poll_interval")
    return WaitPlan(limit, first, cap)


def poll_delays(plan: WaitPlan, rng: random.Random | None = None) -> Iterator[float]:
    """The pauses between polls: ``poll_interval * 2**n`` capped at ``max_poll_interval``.

    Each delay is shortened by up to :data:`JITTER` at random, so it never exceeds the
    cap and waiters started together drift apart. Infinite: the
    caller stops at its deadline (and cuts the last pause to the time left).

    Args:
        plan: The validated arguments.
        rng: The random source (tests pass a seeded one).
    """
    draw = (rng or random).uniform
    base = plan.poll_interval
    while True:
        yield base * draw(1.0 - JITTER, 1.0)
        base = min(plan.max_poll_interval, base * BACKOFF_FACTOR)


def finished(job: Job) -> bool:
    """Whether ``wait()`` is over for ``job``: ``True`` when completed.

    Returns:
        ``False`` while pending or processing.

    Raises:
        JobFailedError: The job failed.
        JobCancelledError: The job was cancelled.
    """
    if job.status is JobStatus.COMPLETED:
        return True
    if job.status is JobStatus.FAILED:
        raise JobFailedError(job)
    if job.status is JobStatus.CANCELLED:
        raise JobCancelledError(job)
    return False
