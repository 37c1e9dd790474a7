"""Slots and claims: what runs, which leases are held, and how many jobs to claim when.

The worker claims exactly as many jobs as it has free slots, in one call, and starts each
at once; it keeps no local queue, so a worker that dies never holds jobs it did not start.
After an empty (or short) claim it waits an idle delay that doubles, with jitter, up to the
poll interval; a wake-up (or a freed slot after a full claim) ends the wait. While a wake-up
source is healthy, new work announces itself, so an empty claim goes straight to the long
safety-net interval (no doubling series of empty claims after every job), shortened to the
next scheduled job's due time when the worker learns it (``due_in``).

Claim storms: a wake-up does not claim at once but after a random 0..``wake_jitter`` delay,
and wake-ups that arrive before that claim are folded into it; so many idle workers do not
hit the database in the same instant, and a burst of messages costs each worker one claim.
A wake-up that arrives while a claim is in flight makes the worker claim again after it
(that claim may have read the queue before the new job was committed): never missed work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .._constants import MAX_CLAIM_LIMIT
from .._models import Job
from ._outcomes import JobOutcome

__all__ = ["IdlePolicy", "Running", "Slots"]

RunState = Literal["running", "abandoned"]


@dataclass
class Running:
    """A handler occupying a slot.

    ``abandoned`` means the job's outcome was already decided for it (a timeout or a
    shutdown hand-back, kept in ``outcome``) or its lease was lost; whatever the handler
    returns later is dropped. The slot stays taken until the handler really returns.
    """

    job: Job
    started: float
    deadline: float | None
    state: RunState = "running"
    cancel_reason: str | None = None
    outcome: JobOutcome | None = None


@dataclass(frozen=True)
class IdlePolicy:
    """Idle polling: ``first`` seconds after the first empty claim, doubling up to the cap.

    The cap is ``poll_interval``, or ``idle_poll_interval`` while a wake-up source reports
    itself healthy (then polling is only a safety net).
    """

    poll_interval: float = 2.0
    idle_poll_interval: float = 90.0
    first: float = 0.05
    claim_cooldown: float = 0.005
    wake_jitter: float = 0.025

    def delay(self, empty_claims: int, rand: float, *, wakeup_healthy: bool) -> float:
        """Seconds until the next claim after ``empty_claims`` empty claims in a row."""
        if wakeup_healthy:
            # Messages announce new work: only the safety net is left, jittered a little
            # (never above the interval) so the idle workers of a fleet do not poll in step.
            return float(self.idle_poll_interval * (0.85 + 0.15 * rand))
        exponent = min(max(empty_claims - 1, 0), 30)
        return float(min(self.poll_interval, self.first * 2**exponent) * (0.5 + rand / 2))


class Slots:
    """The handlers running and the leases held; claim sizing and its timing."""

    def __init__(self, concurrency: int, idle: IdlePolicy) -> None:
        self.concurrency = concurrency
        self.idle = idle
        self.running: dict[str, Running] = {}
        self.leases: dict[str, Job] = {}
        self.claim_in_flight = False
        self.next_claim_at = 0.0
        self.empty_claims = 0
        self.woken_in_flight = False

    @property
    def free(self) -> int:
        """Slots without a handler (an abandoned handler still takes its slot)."""
        return max(self.concurrency - len(self.running), 0)

    @property
    def stuck(self) -> int:
        """Slots held by a handler whose outcome was decided without it (timed out)."""
        return sum(1 for r in self.running.values() if r.state == "abandoned")

    def claim_size(self, now: float) -> int:
        """How many jobs to claim now (0: not now)."""
        if self.claim_in_flight or now < self.next_claim_at:
            return 0
        return min(self.free, MAX_CLAIM_LIMIT)

    def claim_started(self) -> None:
        """A claim request was sent."""
        self.claim_in_flight = True

    def claim_answered(
        self, now: float, requested: int, got: int, rand: float, *, wakeup_healthy: bool
    ) -> bool:
        """A claim came back with ``got`` rows; returns whether the worker is idle now."""
        self.claim_in_flight = False
        woken, self.woken_in_flight = self.woken_in_flight, False
        if got < requested and woken:
            # A wake-up came while this claim ran: it may have read before that job existed.
            self.empty_claims = 0
            self.next_claim_at = now + self.idle.wake_jitter * rand
            return False
        if got >= requested:
            self.empty_claims = 0
            self.next_claim_at = now + self.idle.claim_cooldown
            return False
        # Short or empty: nothing more is due right now. Back off, with jitter so many
        # idle workers do not poll in step.
        self.empty_claims = self.empty_claims + 1 if got == 0 else 1
        self.next_claim_at = now + self.idle.delay(
            self.empty_claims, rand, wakeup_healthy=wakeup_healthy
        )
        return got == 0

    def claim_failed(self, retry_at: float) -> None:
        """A claim failed; the next waits for the lane's backoff."""
        self.claim_in_flight = False
        self.next_claim_at = max(self.next_claim_at, retry_at)

    def wake(self, now: float, rand: float = 0.0) -> None:
        """A wake-up: claim within ``wake_jitter * rand`` seconds (once a slot is free)."""
        self.empty_claims = 0
        if self.claim_in_flight:
            self.woken_in_flight = True
        self.next_claim_at = min(self.next_claim_at, now + self.idle.wake_jitter * rand)

    def due_in(self, now: float, seconds: float, rand: float = 0.0) -> None:
        """The next scheduled job is due in ``seconds``: claim then, if that is sooner."""
        at = now + max(seconds, 0.0) + 0.005 + self.idle.wake_jitter * rand
        self.next_claim_at = min(self.next_claim_at, at)

    def idle_wait(self, now: float) -> float:
        """Seconds until the next planned claim (worth asking for ``due_in`` if long)."""
        return max(self.next_claim_at - now, 0.0)

    def start(self, job: Job, now: float, timeout: float | None) -> Running:
        """Register a claimed job as running (its lease held)."""
        key = str(job.id)
        self.leases[key] = job
        record = Running(job, now, None if timeout is None else now + timeout)
        self.running[key] = record
        return record

    def hold(self, job: Job) -> None:
        """Hold a lease without a handler (a claim that landed after shutdown began)."""
        self.leases[str(job.id)] = job
