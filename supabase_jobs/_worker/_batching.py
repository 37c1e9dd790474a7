"""The finish lane (outcomes written in batches) and the heartbeat schedule.

Outcomes are keyed by job id and flushed by count or after a few milliseconds, one batch
in flight at a time, one kind of call per batch (``complete_many``, ``fail_many`` or
``release_many``). A batch that fails transiently is kept and re-sent after the lane's
backoff: the writes are fenced by lease, so a re-send can never complete a job twice or
under someone else's lease. A batch refused for good is split, and a single refused item is
recorded as what it is (a complete becomes an "unstorable outcome" failure).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .._models import Job
from ._outcomes import Settlement

__all__ = ["Batch", "FinishLane", "HeartbeatSchedule", "call_of"]

Call = Literal["complete", "fail", "release"]


def call_of(settlement: Settlement) -> Call:
    """Which batched call writes this settlement."""
    if settlement.action in ("snooze", "cancel"):
        return "release"
    return "complete" if settlement.action == "complete" else "fail"


@dataclass(frozen=True)
class Batch:
    """Settlements sent together in one call."""

    call: Call
    items: tuple[Settlement, ...]


class FinishLane:
    """Pending outcomes and the flush policy (by count, by age, or at once when stopping)."""

    def __init__(self, max_batch: int = 100, flush_delay: float = 0.005) -> None:
        self.max_batch = max_batch
        self.flush_delay = flush_delay
        self.pending: dict[str, Settlement] = {}
        self.since: dict[str, float] = {}
        self.in_flight: Batch | None = None
        self.solo: set[str] = set()

    def __len__(self) -> int:
        return len(self.pending) + (len(self.in_flight.items) if self.in_flight else 0)

    def add(self, settlement: Settlement, now: float) -> None:
        """Queue an outcome (a newer one for the same job replaces the older)."""
        key = str(settlement.job.id)
        self.pending[key] = settlement
        self.since.setdefault(key, now)

    def drop(self, job_id: str) -> Settlement | None:
        """Forget a queued outcome (its lease was lost)."""
        self.since.pop(job_id, None)
        self.solo.discard(job_id)
        return self.pending.pop(job_id, None)

    def due_at(self, urgent: bool) -> float | None:
        """When the next flush is due (``None``: nothing pending)."""
        if not self.pending:
            return None
        if urgent or len(self.pending) >= self.max_batch:
            return 0.0
        return min(self.since.values()) + self.flush_delay

    def take(self, now: float, *, urgent: bool = False) -> Batch | None:
        """The next batch to send, or ``None`` (nothing due, or one already in flight)."""
        due = self.due_at(urgent)
        if self.in_flight is not None or due is None or now < due:
            return None
        oldest = min(self.pending, key=self.since.__getitem__)
        call = call_of(self.pending[oldest])
        if oldest in self.solo:
            keys = [oldest]
        else:
            keys = [
                key
                for key, item in self.pending.items()
                if call_of(item) == call and key not in self.solo
            ][: self.max_batch]
        items = tuple(self.pending.pop(key) for key in keys)
        for key in keys:
            self.since.pop(key, None)
        self.in_flight = Batch(call, items)
        return self.in_flight

    def acknowledged(self) -> Batch:
        """The batch in flight was written; returns it."""
        assert self.in_flight is not None
        batch, self.in_flight = self.in_flight, None
        for item in batch.items:
            self.solo.discard(str(item.job.id))
        return batch

    def retry_later(self, now: float, *, split: bool = False) -> Batch:
        """Put the batch in flight back (first in line); ``split`` re-sends it item by item."""
        assert self.in_flight is not None
        batch, self.in_flight = self.in_flight, None
        for item in batch.items:
            key = str(item.job.id)
            if key not in self.pending:  # a newer outcome for the job wins
                self.pending[key] = item
                self.since[key] = now - self.flush_delay  # due again at once
            if split:
                self.solo.add(key)
        return batch


class HeartbeatSchedule:
    """One beat for all held leases every ``interval`` (lease / 3), with ±10 % jitter."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.next_at: float | None = None
        self.in_flight: tuple[Job, ...] | None = None

    def due_at(self, now: float, holding: bool) -> float | None:
        """When the next beat is due (``None``: no lease held)."""
        if not holding:
            self.next_at = None
            return None
        if self.next_at is None:
            self.next_at = now + self.interval
        return self.next_at

    def take(self, now: float, leases: dict[str, Job]) -> tuple[Job, ...] | None:
        """The leases to renew now, or ``None``."""
        due = self.due_at(now, bool(leases))
        if self.in_flight is not None or due is None or now < due:
            return None
        self.in_flight = tuple(leases.values())
        return self.in_flight

    def answered(self, now: float, rand: float) -> tuple[Job, ...]:
        """The beat was answered; schedule the next."""
        assert self.in_flight is not None
        beat, self.in_flight = self.in_flight, None
        self.next_at = now + self.interval * (0.9 + rand * 0.2)
        return beat

    def failed(self, retry_at: float) -> None:
        """The beat failed; try again after the lane's backoff (never later than a beat)."""
        self.in_flight = None
        self.next_at = retry_at
