"""The worker's brain: every decision of ``Worker`` and ``AsyncWorker``, with no I/O.

The drivers (a thread pool, or asyncio tasks) only execute what this object decides and
report back what happened. It reads no clock (``now`` is passed in) and draws no random
numbers itself (``rand`` is passed in), so the same script of events gives the same
decisions in both drivers and in the unit tests.

Three lanes, each with at most one request in flight: *claim*, *finish* (outcomes) and
*heartbeat*. No claim is sent while the finish or heartbeat lane is in an outage, and the
heartbeat covers every lease held, including jobs whose outcome is still being written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._models import Job
from .._settings import JobsConfig
from ._backoff import Backoff, Lane, LaneLog, is_permanent, is_transient
from ._batching import Batch, FinishLane, HeartbeatSchedule
from ._outcomes import (
    JobOutcome,
    Settlement,
    UnstorableResultError,
    WorkerStats,
    map_outcome,
    released,
    timed_out,
)
from ._shutdown import Phase, Shutdown
from ._slots import IdlePolicy, Running, Slots

__all__ = ["Acked", "CoreOptions", "WorkerCore"]

#: Times an error that is neither surely transient nor surely permanent is retried before
#: the batch is split (and a single item refused for good).
_UNCLEAR_RETRIES = 3


@dataclass(frozen=True)
class CoreOptions:
    """The knobs the core decides with (validated by the ``Worker`` constructor)."""

    concurrency: int = 8
    lease_seconds: int = 60
    shutdown_timeout: float = 30.0
    flush_timeout: float = 10.0
    idle: IdlePolicy = field(default_factory=IdlePolicy)
    max_batch: int = 100
    flush_delay: float = 0.005
    drain: bool = False


@dataclass(frozen=True)
class Acked:
    """An outcome the server acknowledged (or refused because the lease was lost)."""

    job: Job
    outcome: JobOutcome


class WorkerCore:
    """State and decisions; see the module docstring. Not thread-safe: drivers lock."""

    def __init__(self, options: CoreOptions, config: JobsConfig, *, started: float) -> None:
        self.options = options
        self.config = config
        self.started = started
        self.slots = Slots(options.concurrency, options.idle)
        self.finish = FinishLane(options.max_batch, options.flush_delay)
        self.beats = HeartbeatSchedule(options.lease_seconds / 3)
        self.shutdown = Shutdown(options.shutdown_timeout, options.flush_timeout)
        self.claim_lane = Lane("claim", Backoff(0.1, options.idle.poll_interval))
        self.finish_lane = Lane("finish", Backoff(0.05, 2.0))
        self.beat_lane = Lane("heartbeat", Backoff(0.1, max(options.lease_seconds / 6, 0.2)))
        self.counts: dict[str, int] = dict.fromkeys(
            ("completed", "retried", "failed", "snoozed", "cancelled", "released", "lease_lost"),
            0,
        )
        self.claims_ok = 0
        self.settled_seq = 0
        self._claim_seq = 0

    # -- claims -----------------------------------------------------------------------------

    def claim_size(self, now: float) -> int:
        """How many jobs to claim now; 0 while stopping, backing off or out of slots."""
        if self._claims_held_back() or not self.claim_lane.ready(now):
            return 0
        size = self.slots.claim_size(now)
        if size:
            self.slots.claim_started()
            self._claim_seq = self.settled_seq
        return size

    def _claims_held_back(self) -> bool:
        """Stopping, or backpressure: outcomes and leases go first during their outages."""
        # An outage holds claims back only while it has something to write: outcomes whose
        # leases were lost meanwhile are dropped, and no write would then end the outage.
        return (
            not self.shutdown.claiming
            or (self.finish_lane.in_outage and bool(len(self.finish)))
            or (self.beat_lane.in_outage and bool(self.slots.leases))
            or len(self.finish) >= 10 * self.options.concurrency
        )

    def claim_due_at(self) -> float | None:
        """When a claim may be due (``None``: not before something changes)."""
        if not self.slots.free or self._claims_held_back():
            return None
        return max(self.slots.next_claim_at, self.claim_lane.retry_at)

    def claimed(
        self,
        jobs: list[Job],
        requested: int,
        now: float,
        rand: float,
        *,
        timeouts: dict[str, float | None],
        wakeup_healthy: bool = False,
    ) -> tuple[list[Running], bool, LaneLog | None]:
        """Rows came back from a claim: returns (jobs to start now, idle?, log).

        Rows that land after shutdown began are handed straight back (no attempt spent).
        """
        log = self.claim_lane.succeeded(now)
        self.claims_ok += 1
        idle = self.slots.claim_answered(
            now, requested, len(jobs), rand, wakeup_healthy=wakeup_healthy
        )
        starts = []
        for job in jobs:
            if self.shutdown.claiming:
                starts.append(self.slots.start(job, now, timeouts.get(job.type)))
            else:
                self.slots.hold(job)
                self.finish.add(released(job, 0.0), now)
        self.beats.due_at(now, bool(self.slots.leases))  # the first beat counts from here
        if (
            self.options.drain
            and not jobs
            and self.shutdown.claiming
            and not self.slots.running
            and not len(self.finish)
            and self._claim_seq == self.settled_seq
        ):
            self.shutdown.drained()
        return starts, idle, log

    def claim_failed(self, now: float, error: BaseException, rand: float) -> LaneLog:
        """A claim raised; a permanent error before any claim worked is fatal."""
        log = self.claim_lane.failed(now, error, rand)
        self.slots.claim_failed(self.claim_lane.retry_at)
        if is_permanent(error) and self.claims_ok == 0:
            self.shutdown.fail(now, f"claim refused: {type(error).__name__}: {error}")
        return log

    def wake(self, now: float, rand: float = 0.0) -> None:
        """A wake-up source saw new work."""
        self.slots.wake(now, rand)

    # -- handlers ---------------------------------------------------------------------------

    def handler_done(
        self,
        job_id: str,
        now: float,
        *,
        returned: Any = None,
        raised: BaseException | None = None,
        timeout: float | None = None,
    ) -> JobOutcome | None:
        """A handler returned (or raised, or hit ``timeout``); returns its outcome.

        A handler whose lease was lost gets ``lease_lost`` (its outcome is dropped); one
        whose outcome was decided without it (timed out, handed back) gets that outcome.
        """
        record = self.slots.running.pop(job_id, None)
        if record is None:
            return None
        duration = now - record.started
        if self.options.drain and not self.slots.running:
            self.slots.wake(now)  # confirm "nothing due" at once, not after an idle wait
        if record.state == "abandoned":
            return record.outcome
        if timeout is not None:
            settlement = timed_out(record.job, timeout, duration)
        else:
            settlement = map_outcome(
                record.job, self.config, duration, returned=returned, raised=raised
            )
        self.finish.add(settlement, now)
        return settlement.outcome

    def overdue(self, now: float) -> list[Running]:
        """Sync handlers past their deadline: fail the attempt now, keep the slot taken.

        The thread cannot be killed; its job is failed (and retried elsewhere after the
        backoff), its lease is no longer renewed once that is written, and whatever the
        handler returns later is dropped.
        """
        late = [
            r
            for r in self.slots.running.values()
            if r.state == "running" and r.deadline is not None and now >= r.deadline
        ]
        for record in late:
            timeout = (record.deadline or now) - record.started
            settlement = timed_out(record.job, timeout, now - record.started)
            self._abandon(record, settlement, "timeout", now)
        return late

    def _abandon(self, record: Running, settlement: Settlement, reason: str, now: float) -> None:
        record.state = "abandoned"
        record.cancel_reason = reason
        record.outcome = settlement.outcome
        self.finish.add(settlement, now)

    # -- shutdown ---------------------------------------------------------------------------

    def stop(self, now: float, *, hard: bool = False, signum: int | None = None) -> list[Running]:
        """A stop request or signal; returns the handlers to cancel (when it aborts)."""
        if signum is not None:
            self.shutdown.signal(now, signum)
        else:
            self.shutdown.request(now, hard=hard)
        return self.tick(now)

    def tick(self, now: float) -> list[Running]:
        """Advance the shutdown phases; returns handlers to cancel when it aborts."""
        # Hand back before looking at what is left: an abort with nothing queued yet must
        # not count as "everything written".
        cancelled: list[Running] = []
        if self.shutdown.phase is Phase.ABORTING:
            cancelled = self._hand_back_running(now)
        self.shutdown.tick(now, running=self._live_running(), unsettled=self._unsettled())
        if self.shutdown.phase is Phase.ABORTING:  # the drain deadline just passed
            cancelled += self._hand_back_running(now)
            self.shutdown.tick(now, running=0, unsettled=self._unsettled())
        return cancelled

    def _unsettled(self) -> int:
        """Writes still owed; a claim in flight counts, since its rows must be handed back."""
        return len(self.finish) + (1 if self.slots.claim_in_flight else 0)

    def _live_running(self) -> int:
        return sum(1 for r in self.slots.running.values() if r.state == "running")

    def _hand_back_running(self, now: float) -> list[Running]:
        records = [r for r in self.slots.running.values() if r.state == "running"]
        for record in records:
            self._abandon(record, released(record.job, now - record.started), "shutdown", now)
        return records

    @property
    def stopped(self) -> bool:
        """Whether the worker is done (heartbeats may stop, ``run()`` returns)."""
        return self.shutdown.phase is Phase.STOPPED

    # -- finish lane ------------------------------------------------------------------------

    def next_flush(self, now: float) -> Batch | None:
        """The next batch of outcomes to write (urgent once shutdown began)."""
        if not self.finish_lane.ready(now):
            return None
        return self.finish.take(now, urgent=not self.shutdown.claiming)

    def flush_due_at(self, now: float) -> float | None:
        """When the finish lane wants to run next (``None``: nothing to write)."""
        due = self.finish.due_at(not self.shutdown.claiming)
        if due is None or self.finish.in_flight is not None:
            return None
        return max(due, self.finish_lane.retry_at)

    def flushed(self, now: float, lost: set[str]) -> tuple[list[Acked], LaneLog | None]:
        """The batch in flight was written; ``lost`` were refused (lease gone)."""
        log = self.finish_lane.succeeded(now)
        batch = self.finish.acknowledged()
        self.settled_seq += 1
        acked = []
        for item in batch.items:
            key = str(item.job.id)
            if self.slots.leases.pop(key, None) is None:
                continue  # a heartbeat reported this lease lost already (and counted it)
            if key in lost:
                outcome = JobOutcome("lease_lost", item.outcome.duration)
            else:
                outcome = item.outcome
            self.counts[outcome.kind] += 1
            acked.append(Acked(item.job, outcome))
        return acked, log

    def flush_failed(self, now: float, error: BaseException, rand: float) -> LaneLog:
        """The batch failed: kept for a re-send, split, or (one refused item) settled."""
        # Retry what may heal (an unclassified error, a few times); split what cannot.
        transient = is_transient(error) or (
            not is_permanent(error) and self.finish_lane.failures < _UNCLEAR_RETRIES
        )
        log = self.finish_lane.failed(now, error, rand) if transient else None
        batch = self.finish.in_flight
        assert batch is not None
        if transient:
            self.finish.retry_later(now)
            assert log is not None
            return log
        if len(batch.items) > 1:
            self.finish.retry_later(now, split=True)
            return LaneLog("warning", f"finish: a batch was refused ({type(error).__name__}); "
                               "re-sending its items one by one")  # fmt: skip
        self.finish.acknowledged()
        (item,) = batch.items
        if item.action == "complete":
            problem = UnstorableResultError(
                f"the outcome could not be stored ({type(error).__name__})"
            )
            self.finish.add(
                Settlement(item.job, "fail", JobOutcome("failed", item.outcome.duration,
                           f"UnstorableResultError: {problem}"), error=problem, retry=False),
                now,
            )  # fmt: skip
            return LaneLog("error", f"finish: job {item.job.id}: its result was refused "
                               f"({type(error).__name__}); failing it instead")  # fmt: skip
        self.slots.leases.pop(str(item.job.id), None)
        return LaneLog("error", f"finish: job {item.job.id}: its {item.action} was refused "
                           f"({type(error).__name__}); it will wait out its lease")  # fmt: skip

    # -- heartbeats -------------------------------------------------------------------------

    def next_heartbeat(self, now: float) -> tuple[Job, ...] | None:
        """The leases to renew now (all held), or ``None``."""
        return self.beats.take(now, self.slots.leases)

    def heartbeat_due_at(self, now: float) -> float | None:
        """When the next beat is due (``None``: no lease held)."""
        if self.beats.in_flight is not None:
            return None
        return self.beats.due_at(now, bool(self.slots.leases))

    def heartbeat_answered(
        self, now: float, lost: set[str], rand: float
    ) -> tuple[list[Running], list[Job], LaneLog | None]:
        """Leases renewed; the ``lost`` ones stop: (handlers to cancel, lost jobs, log)."""
        log = self.beat_lane.succeeded(now)
        self.beats.answered(now, rand)
        cancel, gone = [], []
        for key in lost:
            job = self.slots.leases.pop(key, None)
            if job is None:
                continue  # settled meanwhile
            gone.append(job)
            record = self.slots.running.get(key)
            if record is not None and record.state == "running":
                record.state = "abandoned"
                record.cancel_reason = "lease_lost"
                record.outcome = JobOutcome("lease_lost", now - record.started)
                cancel.append(record)
            self.finish.drop(key)
            self.counts["lease_lost"] += 1
        return cancel, gone, log

    def heartbeat_failed(self, now: float, error: BaseException, rand: float) -> LaneLog:
        """A beat failed; retried after a short backoff (never more than a beat apart)."""
        log = self.beat_lane.failed(now, error, rand)
        self.beats.failed(self.beat_lane.retry_at)
        return log

    # -- reporting --------------------------------------------------------------------------

    def stats(self, now: float) -> WorkerStats:
        """The counters now."""
        stopped = self.stopped
        unsettled = self._unsettled()
        return WorkerStats(
            in_flight=len(self.slots.running),
            stuck=self.slots.stuck,
            unsettled=unsettled,
            uptime=now - self.started,
            exit_code=self.shutdown.exit_code(unsettled) if stopped else None,
            reason=self.shutdown.reason,
            **self.counts,
        )
