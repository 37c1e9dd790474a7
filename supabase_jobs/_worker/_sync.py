"""``Worker``: the thread-pool driver of the worker core.

Threads: ``concurrency`` handler threads (daemons, so a handler stuck past its timeout
never keeps the process alive), one thread per lane (claim, finish, heartbeat), and the
thread that called ``run()``, which handles signals, deadlines and the shutdown phases.
All state lives in the core, behind one lock that is never held across I/O or a handler.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from .._errors import LeaseLostError
from ._base import WorkerBase, logger
from ._batching import Batch
from ._context import JobContext, enter, leave
from ._core import WorkerCore
from ._outcomes import WorkerStats
from ._schedules import schedule_lane
from ._shutdown import installed_signals
from ._slots import Running

__all__ = ["Worker"]

_TICK = 0.1  # how often run() looks at signals and deadlines
_T = TypeVar("_T")


class Worker(WorkerBase):
    """Run handlers for claimed jobs in a thread pool, until stopped.

    Args:
        jobs: A :class:`~supabase_jobs.JobsClient`.
        queues: Claim only from these queues (``None``: all).
        types: Claim only these types (``None``: every type with a handler).
        concurrency: Slots: how many handlers run at once.
        lease_seconds: Lease length; one heartbeat renews all leases every third of it.
        timeout: Default handler timeout in seconds (``None``: none).
        poll_interval: Longest idle wait between claims without a healthy wake-up source.
        idle_poll_interval: The same while the wake-up source is healthy (a safety net:
            new work announces itself; scheduled jobs are waited for by their due time).
        shutdown_timeout: How long a stop waits for running handlers before handing back.
        flush_timeout: How long a stop keeps trying to write pending outcomes.
        hooks: :class:`WorkerHooks` instances.
        wakeup: A wake-up source (``start(wake)``, ``stop()``, ``healthy``); it wins over
            ``realtime``.
        realtime: Subscribe to the queues' Supabase Realtime channels (the default wake-up
            source, on a loop thread of its own); ``False``: polling only.
        worker_id: Stored on claimed jobs (default: host-pid-random).
        install_signal_handlers: ``None``: when ``run()`` is on the main thread.
    """

    def __init__(self, jobs: Any, **options: Any) -> None:
        super().__init__(jobs, **options)
        self._cond = threading.Condition()
        self._signals: list[int] = []
        self._contexts: dict[str, JobContext] = {}
        self._queue: queue.SimpleQueue[tuple[Running, JobContext] | None] = queue.SimpleQueue()
        self._pool: list[threading.Thread] = []

    def stop(self, *, hard: bool = False) -> None:
        """Ask a running worker to stop (thread-safe). ``hard`` hands everything back now."""
        with self._cond:
            if self._core is not None:
                self._cancel(self._core.stop(time.monotonic(), hard=hard))
            self._cond.notify_all()

    def run(self, *, drain: bool = False) -> WorkerStats:
        """Work until stopped (SIGTERM/SIGINT or :meth:`stop`), or with ``drain`` until
        nothing is due and nothing is in flight.

        Returns:
            The final :class:`WorkerStats`; ``exit_code`` tells a clean stop (0) apart.
        """
        with self._cond:
            core = self._core = self._new_core(drain)
        self._ensure_pool()
        lanes = [
            threading.Thread(target=self._guard, args=(fn,), name=f"sj-{name}", daemon=True)
            for name, fn in (
                ("claim", self._claim_lane),
                ("finish", self._finish_lane),
                ("heartbeat", self._heartbeat_lane),
                *([("schedule", self._schedule_lane)] if self._schedule_lane_wanted(drain) else []),
            )
        ]
        if self.wakeup is not None:
            self.wakeup.start(self._wake)
        try:
            with installed_signals(self._signals.append, self.install_signal_handlers):
                for lane in lanes:
                    lane.start()
                self._supervise(core)
        finally:
            with self._cond:
                if not core.stopped:  # KeyboardInterrupt with signals not installed
                    self._cancel(core.stop(time.monotonic(), hard=True))
                self._cond.notify_all()
            for lane in lanes:
                lane.join(timeout=self.flush_timeout + 5)
            if self.wakeup is not None:
                self.wakeup.stop()
            with self._cond:
                self._last_stats = core.stats(time.monotonic())
                self._core = None
        logger.info("worker stopped: %s", self._last_stats.reason, extra={"action": "stopped"})
        return self._last_stats

    # -- the supervising thread -------------------------------------------------------------

    def _supervise(self, core: WorkerCore) -> None:
        with self._cond:
            while not core.stopped:
                now = time.monotonic()
                while self._signals:
                    self._cancel(core.stop(now, signum=self._signals.pop(0)))
                self._cancel(core.overdue(now))
                self._cancel(core.tick(now))
                self._cond.notify_all()
                if core.stopped:
                    break
                self._cond.wait(_TICK)

    def _cancel(self, records: list[Running]) -> None:
        for record in records:
            context = self._contexts.get(str(record.job.id))
            if context is not None:
                context.cancel(record.cancel_reason or "cancelled")

    def _guard(self, lane: Callable[[WorkerCore], None]) -> None:
        core = self._core
        assert core is not None
        try:
            lane(core)
        except BaseException as exc:  # a bug in a lane must stop the worker, not hang it
            logger.exception("worker lane crashed", extra={"action": "lane_crash"})
            with self._cond:
                core.shutdown.fail(time.monotonic(), type(exc).__name__)
                self._cond.notify_all()

    def _wake(self, queue_name: str) -> None:
        """The wake-up source's callback (thread-safe)."""
        if not self._wanted(queue_name):
            return
        with self._cond:
            if self._core is not None:
                self._core.wake(time.monotonic(), random.random())
                self._cond.notify_all()

    # -- lanes ------------------------------------------------------------------------------

    def _wait(self, due: float | None, now: float) -> None:
        self._cond.wait(1.0 if due is None else min(max(due - now, 0.001), 1.0))

    def _next(
        self,
        core: WorkerCore,
        take: Callable[[float], _T | None],
        due_at: Callable[[float], float | None],
    ) -> _T | None:
        """Wait under the lock until ``take(now)`` has work for a lane; ``None`` once stopped."""
        with self._cond:
            while not core.stopped:
                now = time.monotonic()
                work = take(now)
                if work is not None:
                    return work
                self._wait(due_at(now), now)
        return None

    def _claim_lane(self, core: WorkerCore) -> None:
        types = self._claim_types()
        timeouts = self.handlers.timeouts()
        while True:
            size = self._next(
                core, lambda now: core.claim_size(now) or None, lambda now: core.claim_due_at()
            )
            if size is None:
                return
            try:
                jobs = self.jobs.claim(
                    self.worker_id,
                    types=types,
                    queues=self.queues,
                    limit=size,
                    lease_seconds=self.lease_seconds,
                )
            except Exception as exc:
                with self._cond:
                    self._log_lane(core.claim_failed(time.monotonic(), exc, random.random()))
                    self._cond.notify_all()
                continue
            with self._cond:
                starts, idle, log = core.claimed(
                    jobs,
                    size,
                    time.monotonic(),
                    random.random(),
                    timeouts=timeouts,
                    wakeup_healthy=self._wakeup_healthy(),
                )
                for record in starts:
                    context = JobContext(record.job)
                    self._contexts[str(record.job.id)] = context
                    self._queue.put((record, context))
                self._cond.notify_all()
            self._log_lane(log)
            if idle:
                self.hooks.worker_idle()
                if self._asks_next_due(core):
                    self._next_due(core, types)

    def _next_due(self, core: WorkerCore, types: list[str]) -> None:
        """Sleep no longer than until the next scheduled job (no message announces it)."""
        try:
            seconds = self.jobs.next_due(types=types, queues=self.queues)
        except Exception as exc:  # the poll interval still bounds the wait
            logger.debug("next_due failed: %s", type(exc).__name__)
            return
        if seconds is not None:
            with self._cond:
                core.slots.due_in(time.monotonic(), seconds, random.random())
                self._cond.notify_all()

    def _finish_lane(self, core: WorkerCore) -> None:
        while True:
            batch = self._next(core, core.next_flush, core.flush_due_at)
            if batch is None:
                return
            try:
                lost = self._send(batch)
            except Exception as exc:
                with self._cond:
                    self._log_lane(core.flush_failed(time.monotonic(), exc, random.random()))
                    self._cond.notify_all()
                continue
            with self._cond:
                acked, log = core.flushed(time.monotonic(), lost)
                self._cond.notify_all()
            self._log_lane(log)
            self._log_acked(acked)

    def _schedule_lane(self, core: WorkerCore) -> None:
        schedule_lane(self, core)

    def _send(self, batch: Batch) -> set[str]:
        items = batch.items
        try:
            if batch.call == "complete":
                self.jobs.complete_many([(s.job, s.result) for s in items])
            elif batch.call == "fail":
                self.jobs.fail_many([(s.job, s.error, s.retry, s.retry_in) for s in items])
            else:
                snoozes = [(s.job, s.delay) for s in items if s.action == "snooze"]
                cancels = [(s.job, s.reason) for s in items if s.action == "cancel"]
                return set(self.jobs.release_many(snoozes=snoozes, cancels=cancels))
        except LeaseLostError as exc:
            return set(exc.job_ids)
        return set()

    def _heartbeat_lane(self, core: WorkerCore) -> None:
        while True:
            beat = self._next(core, core.next_heartbeat, core.heartbeat_due_at)
            if beat is None:
                return
            try:
                lost = set(self.jobs.heartbeat_many(beat, lease_seconds=self.lease_seconds))
            except Exception as exc:
                with self._cond:
                    self._log_lane(core.heartbeat_failed(time.monotonic(), exc, random.random()))
                    self._cond.notify_all()
                continue
            with self._cond:
                cancel, gone, log = core.heartbeat_answered(time.monotonic(), lost, random.random())
                self._cancel(cancel)
                self._cond.notify_all()
            self._log_lane(log)
            for job in gone:
                self.hooks.lease_lost(job)

    # -- handler threads --------------------------------------------------------------------

    def _ensure_pool(self) -> None:
        self._pool = [t for t in self._pool if t.is_alive()]
        while len(self._pool) < self.concurrency:
            thread = threading.Thread(target=self._pool_loop, name="sj-handler", daemon=True)
            thread.start()
            self._pool.append(thread)

    def _pool_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._execute(*item)

    def _execute(self, record: Running, context: JobContext) -> None:
        job = record.job
        key = str(job.id)
        token = enter(context)
        try:
            self.hooks.job_started(job)
            returned: Any = None
            raised: BaseException | None = None
            try:
                handler, args = self.handlers.arguments(job, self.registry)
                returned = handler.fn(*args)
            except BaseException as exc:  # SystemExit/KeyboardInterrupt too: a failed attempt
                raised = exc
            with self._cond:
                core = self._core
                outcome = (
                    None
                    if core is None
                    else core.handler_done(key, time.monotonic(), returned=returned, raised=raised)
                )
                self._contexts.pop(key, None)
                self._cond.notify_all()
            if outcome is not None:
                self.hooks.job_finished(job, outcome)
        finally:
            leave(token)
