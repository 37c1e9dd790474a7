"""``AsyncWorker``: the asyncio driver of the worker core.

One task per running handler (bounded by a semaphore of ``concurrency``), one task per lane
(claim, finish, heartbeat), and ``run()`` itself, which handles signals, deadlines and the
shutdown phases. Cancelling a handler (lease lost, timeout, shutdown) cancels its task.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from collections.abc import Awaitable
from typing import Any

from .._errors import LeaseLostError
from ._base import WorkerBase, logger
from ._batching import Batch
from ._context import JobContext, enter, leave
from ._core import WorkerCore
from ._outcomes import WorkerStats
from ._schedules import async_schedule_lane
from ._shutdown import SIGNALS
from ._slots import Running

__all__ = ["AsyncWorker"]

_TICK = 0.1


class _Changed:
    """A broadcast "something changed" that any number of tasks can wait for."""

    def __init__(self) -> None:
        self._future: asyncio.Future[None] | None = None

    async def wait(self, timeout: float) -> None:
        if self._future is None or self._future.done():
            self._future = asyncio.get_running_loop().create_future()
        future = self._future
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(future), timeout)

    def notify(self) -> None:
        if self._future is not None and not self._future.done():
            self._future.set_result(None)


class AsyncWorker(WorkerBase):
    """Run ``async def`` handlers for claimed jobs as tasks, until stopped.

    Same arguments as :class:`Worker`, with an :class:`~supabase_jobs.AsyncJobsClient`;
    the wake-up source's ``start``/``stop`` are coroutines.
    """

    _is_async = True

    def __init__(self, jobs: Any, **options: Any) -> None:
        super().__init__(jobs, **options)
        self._changed = _Changed()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._contexts: dict[str, JobContext] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._semaphore: asyncio.Semaphore | None = None

    def stop(self, *, hard: bool = False) -> None:
        """Ask the worker to stop; safe from any thread. ``hard`` hands back at once."""
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._stop_now(hard=hard)
        else:
            loop.call_soon_threadsafe(self._stop_now, hard, None)

    def _stop_now(self, hard: bool = False, signum: int | None = None) -> None:
        if self._core is not None:
            self._cancel(self._core.stop(time.monotonic(), hard=hard, signum=signum))
            self._changed.notify()

    async def run(self, *, drain: bool = False) -> WorkerStats:
        """Work until stopped (SIGTERM/SIGINT or :meth:`stop`), or with ``drain`` until
        nothing is due and nothing is in flight; returns the final :class:`WorkerStats`.

        If the task running this is cancelled, the worker stops (handing back what runs)
        and the cancellation is re-raised.
        """
        core = self._core = self._new_core(drain)
        self._loop = asyncio.get_running_loop()
        self._semaphore = asyncio.Semaphore(self.concurrency)
        lanes = [
            asyncio.create_task(self._guard(lane(core)), name=f"sj-{name}")
            for name, lane in (
                ("claim", self._claim_lane),
                ("finish", self._finish_lane),
                ("heartbeat", self._heartbeat_lane),
                *([("schedule", self._schedule_lane)] if self._schedule_lane_wanted(drain) else []),
            )
        ]
        if self.wakeup is not None:
            await self.wakeup.start(self._wake)
        installed = self._install_signals()
        cancelled = False
        try:
            while not core.stopped:
                try:
                    await self._supervise(core)
                except asyncio.CancelledError:
                    cancelled = True
                    self._stop_now(hard=True)
        finally:
            self._remove_signals(installed)
            if not core.stopped:
                self._stop_now(hard=True)
            self._changed.notify()
            await asyncio.wait(lanes, timeout=self.flush_timeout + 5)
            for lane_task in lanes:
                lane_task.cancel()
            if self.wakeup is not None:
                await self.wakeup.stop()
            self._last_stats = core.stats(time.monotonic())
            self._core = None
        logger.info("worker stopped: %s", self._last_stats.reason, extra={"action": "stopped"})
        if cancelled:
            raise asyncio.CancelledError
        return self._last_stats

    async def _supervise(self, core: WorkerCore) -> None:
        while not core.stopped:
            now = time.monotonic()
            self._cancel(core.overdue(now))
            self._cancel(core.tick(now))
            self._changed.notify()
            if core.stopped:
                return
            await self._changed.wait(_TICK)

    def _install_signals(self) -> dict[int, Any]:
        """Route SIGTERM/SIGINT to the core (even when inherited as ignored); returns the
        previous handlers, which asyncio hides, so they can be restored."""
        if self.install_signal_handlers is False:
            return {}
        loop = asyncio.get_running_loop()
        installed: dict[int, Any] = {}
        for signum in SIGNALS:
            try:
                previous = signal.getsignal(signum)
                loop.add_signal_handler(signum, self._stop_now, False, signum)
            except (NotImplementedError, RuntimeError, ValueError):
                if self.install_signal_handlers:
                    logger.warning("cannot handle signals here; use stop()")
                break
            installed[signum] = previous
        return installed

    @staticmethod
    def _remove_signals(installed: dict[int, Any]) -> None:
        loop = asyncio.get_running_loop()
        for signum, previous in installed.items():
            loop.remove_signal_handler(signum)
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)

    def _cancel(self, records: list[Running]) -> None:
        for record in records:
            key = str(record.job.id)
            context = self._contexts.get(key)
            if context is not None:
                context.cancel(record.cancel_reason or "cancelled")
            task = self._tasks.get(key)
            if task is not None:
                task.cancel()

    async def _guard(self, lane: Awaitable[None]) -> None:
        try:
            await lane
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            logger.exception("worker lane crashed", extra={"action": "lane_crash"})
            if self._core is not None:
                self._core.shutdown.fail(time.monotonic(), type(exc).__name__)
                self._changed.notify()

    def _wake(self, queue_name: str) -> None:
        """The wake-up source's callback; safe from any thread."""
        loop = self._loop
        if loop is None or not self._wanted(queue_name):
            return

        def wake() -> None:
            if self._core is not None:
                self._core.wake(time.monotonic(), random.random())
                self._changed.notify()

        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake()
        else:
            loop.call_soon_threadsafe(wake)

    async def _wait(self, due: float | None, now: float) -> None:
        await self._changed.wait(1.0 if due is None else min(max(due - now, 0.001), 1.0))

    # -- lanes ------------------------------------------------------------------------------

    async def _claim_lane(self, core: WorkerCore) -> None:
        types = self._claim_types()
        timeouts = self.handlers.timeouts()
        while not core.stopped:
            now = time.monotonic()
            size = core.claim_size(now)
            if not size:
                await self._wait(core.claim_due_at(), now)
                continue
            try:
                jobs = await self.jobs.claim(
                    self.worker_id,
                    types=types,
                    queues=self.queues,
                    limit=size,
                    lease_seconds=self.lease_seconds,
                )
            except Exception as exc:
                self._log_lane(core.claim_failed(time.monotonic(), exc, random.random()))
                self._changed.notify()
                continue
            starts, idle, log = core.claimed(
                jobs,
                size,
                time.monotonic(),
                random.random(),
                timeouts=timeouts,
                wakeup_healthy=self._wakeup_healthy(),
            )
            for record in starts:
                key = str(record.job.id)
                context = self._contexts[key] = JobContext(record.job)
                self._tasks[key] = asyncio.create_task(self._execute(record, context))
            self._changed.notify()
            self._log_lane(log)
            if idle:
                self.hooks.worker_idle()
                if self._asks_next_due(core):
                    await self._next_due(core, types)

    async def _next_due(self, core: WorkerCore, types: list[str]) -> None:
        """Sleep no longer than until the next scheduled job (no message announces it)."""
        try:
            seconds = await self.jobs.next_due(types=types, queues=self.queues)
        except Exception as exc:  # the poll interval still bounds the wait
            logger.debug("next_due failed: %s", type(exc).__name__)
            return
        if seconds is not None:
            core.slots.due_in(time.monotonic(), seconds, random.random())
            self._changed.notify()

    async def _finish_lane(self, core: WorkerCore) -> None:
        while not core.stopped:
            now = time.monotonic()
            batch = core.next_flush(now)
            if batch is None:
                await self._wait(core.flush_due_at(now), now)
                continue
            try:
                lost = await self._send(batch)
            except Exception as exc:
                self._log_lane(core.flush_failed(time.monotonic(), exc, random.random()))
                self._changed.notify()
                continue
            acked, log = core.flushed(time.monotonic(), lost)
            self._changed.notify()
            self._log_lane(log)
            self._log_acked(acked)

    async def _schedule_lane(self, core: WorkerCore) -> None:
        await async_schedule_lane(self, core)

    async def _send(self, batch: Batch) -> set[str]:
        items = batch.items
        try:
            if batch.call == "complete":
                await self.jobs.complete_many([(s.job, s.result) for s in items])
            elif batch.call == "fail":
                await self.jobs.fail_many([(s.job, s.error, s.retry, s.retry_in) for s in items])
            else:
                snoozes = [(s.job, s.delay) for s in items if s.action == "snooze"]
                cancels = [(s.job, s.reason) for s in items if s.action == "cancel"]
                return set(await self.jobs.release_many(snoozes=snoozes, cancels=cancels))
        except LeaseLostError as exc:
            return set(exc.job_ids)
        return set()

    async def _heartbeat_lane(self, core: WorkerCore) -> None:
        while not core.stopped:
            now = time.monotonic()
            beat = core.next_heartbeat(now)
            if beat is None:
                await self._wait(core.heartbeat_due_at(now), now)
                continue
            try:
                lost = set(await self.jobs.heartbeat_many(beat, lease_seconds=self.lease_seconds))
            except Exception as exc:
                self._log_lane(core.heartbeat_failed(time.monotonic(), exc, random.random()))
                self._changed.notify()
                continue
            cancel, gone, log = core.heartbeat_answered(time.monotonic(), lost, random.random())
            self._cancel(cancel)
            self._changed.notify()
            self._log_lane(log)
            for job in gone:
                self.hooks.lease_lost(job)

    # -- handler tasks ----------------------------------------------------------------------

    async def _execute(self, record: Running, context: JobContext) -> None:
        job = record.job
        key = str(job.id)
        assert self._semaphore is not None
        token = enter(context)
        try:
            async with self._semaphore:
                self.hooks.job_started(job)
                returned: Any = None
                raised: BaseException | None = None
                try:
                    handler, args = self.handlers.arguments(job, self.registry)
                    returned = await handler.fn(*args)
                except asyncio.CancelledError as exc:
                    # Ours (lease lost, timeout, shutdown): the core already decided the
                    # outcome. Anyone else's: a failed attempt, like any exception.
                    if not context.cancelled:
                        raised = exc
                except BaseException as exc:
                    raised = exc
                core = self._core
                outcome = (
                    None
                    if core is None
                    else core.handler_done(key, time.monotonic(), returned=returned, raised=raised)
                )
                self._contexts.pop(key, None)
                self._tasks.pop(key, None)
                self._changed.notify()
                if outcome is not None:
                    self.hooks.job_finished(job, outcome)
        finally:
            leave(token)
