"""Retrying a lane (claim, finish, heartbeat): capped exponential backoff with jitter, and
outage bookkeeping that logs one WARNING when an outage starts and one INFO when it ends.

Pure: the caller passes ``now`` and a random number; the lane returns what to log.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._errors import (
    ConfigurationError,
    JobsError,
    PermissionDeniedError,
    RateLimitedError,
    SchemaNotInstalledError,
    ServiceUnavailableError,
    TransportError,
    ValidationError,
)

__all__ = ["Backoff", "Lane", "LaneLog", "is_permanent", "is_transient"]


def is_transient(error: BaseException) -> bool:
    """Whether a failed call is surely worth sending again as it is.

    Transport errors and timeouts, 429, 502/503/504 and database restarts or terminated
    backends (``ServiceUnavailableError``) are.
    """
    return isinstance(error, (TransportError, ServiceUnavailableError, RateLimitedError, OSError))


def is_permanent(error: BaseException) -> bool:
    """Whether sending the same request again cannot succeed (a bad argument, a missing
    schema, refused credentials). Errors neither transient nor permanent (an unclassified
    backend error) are retried a few times before a batch is split."""
    return isinstance(
        error, (ValidationError, ConfigurationError, PermissionDeniedError, SchemaNotInstalledError)
    ) or not isinstance(error, (JobsError, OSError))


@dataclass(frozen=True)
class Backoff:
    """``min(cap, base * 2**n)`` scaled by a jitter factor in ``[0.5, 1.0)``.

    Half jitter rather than full: a full-jitter draw near zero would hammer a service that
    is down, while the spread still keeps many workers from retrying in step.
    """

    base: float = 0.1
    cap: float = 5.0

    def delay(self, failures: int, rand: float) -> float:
        """Seconds to wait after the ``failures``-th consecutive failure (1 = first)."""
        exponent = min(max(failures - 1, 0), 30)
        return float(min(self.cap, self.base * 2**exponent) * (0.5 + rand / 2))


@dataclass(frozen=True)
class LaneLog:
    """A log line a lane asks for: ``level`` is ``"warning"``, ``"info"`` or ``"debug"``."""

    level: str
    message: str


class Lane:
    """One lane's retry state: consecutive failures, when to retry, the outage clock."""

    def __init__(self, name: str, backoff: Backoff) -> None:
        self.name = name
        self.backoff = backoff
        self.failures = 0
        self.retry_at = 0.0
        self.outage_since: float | None = None
        self.outages = 0

    @property
    def in_outage(self) -> bool:
        """Whether the last call of this lane failed."""
        return self.outage_since is not None

    def ready(self, now: float) -> bool:
        """Whether the backoff after the last failure has passed."""
        return now >= self.retry_at

    def failed(self, now: float, error: BaseException, rand: float) -> LaneLog:
        """Record a failure; the first of an outage logs a WARNING, the rest DEBUG."""
        self.failures += 1
        delay = self.backoff.delay(self.failures, rand)
        self.retry_at = now + delay
        what = type(error).__name__
        if self.outage_since is None:
            self.outage_since = now
            self.outages += 1
            return LaneLog(
                "warning",
                f"{self.name}: outage started ({what}); retrying with backoff, "
                "pending work is kept",
            )
        return LaneLog("debug", f"{self.name}: retry {self.failures} failed ({what}), next in "
                       f"{delay:.2f} s")  # fmt: skip

    def succeeded(self, now: float) -> LaneLog | None:
        """Record a success; ending an outage logs one INFO line."""
        log = None
        if self.outage_since is not None:
            log = LaneLog(
                "info",
                f"{self.name}: recovered after {now - self.outage_since:.1f} s "
                f"and {self.failures} failed call(s)",
            )
        self.failures = 0
        self.retry_at = 0.0
        self.outage_since = None
        return log
