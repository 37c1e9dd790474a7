"""ScheduleSet: which slots are due (pure), and the thin loop step that dispatches them.

Any number of replicas may run the same ScheduleSet: there is no leader. Each dispatches
the slots it finds due through ``dispatch_many`` with the key :func:`slot_key`; a keyed
job's id is derived from tenant and key, so the database stores one job per slot whoever
sends it first, and later sends return that job.

Catch-up. A replica remembers the last slot it handled per schedule. Slots at most ``grace``
behind now are fired in order (a slow tick or a short pause loses nothing). Older ones are
"missed": with ``catch_up="skip"`` they are dropped; with ``"last"`` the most recent missed
slot is fired. A replica that starts (no memory) fires only the current slot (the latest
at or before now) if it is within ``grace`` (``"last"``: whatever its age), so after
downtime a schedule resumes without a burst of old runs.
Pruning: a replica may re-send a slot up to ``grace`` old, so keep finished scheduled jobs
longer than ``grace`` (prune's usual retention of days is far above the default 60 s).
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pydantic import ValidationError as PydanticValidationError

from ._errors import ValidationError
from ._schedule import MAX_SLOTS_PER_CALL, CatchUp, Schedule, slot_key
from ._validate import validate_queue_name, validate_tenant_id, validate_type_name

if TYPE_CHECKING:
    from ._async._client import AsyncJobsClient
    from ._models import Job
    from ._sync._client import JobsClient

__all__ = ["ScheduleSet"]

#: The longest a loop should sleep between ticks, whatever the schedules.
MAX_TICK = timedelta(seconds=1)


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValidationError("now", "must be an aware datetime")
    return now.astimezone(timezone.utc)


class ScheduleSet:
    """Periodic job definitions and the logic that fires them exactly once per slot.

    Args:
        grace: How late a slot may be and still run under ``catch_up="skip"``
            (default 60 s); older slots count as missed.

    Example:
        >>> schedules = ScheduleSet()
        >>> schedules.add("nightly-cleanup", cron="0 3 * * *", type="tenant_cleanup",
        ...               tenant_id=tenant, timezone="Europe/Paris")  # doctest: +SKIP
        >>> while True:  # doctest: +SKIP
        ...     schedules.run_due(jobs)
        ...     time.sleep(schedules.seconds_until_due())
    """

    def __init__(self, *, grace: timedelta = timedelta(seconds=60)) -> None:
        if not isinstance(grace, timedelta) or grace < timedelta(0):
            raise ValidationError("grace", "must be a non-negative timedelta")
        self._grace = grace
        self._schedules: dict[str, Schedule] = {}
        self._last: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def add(
        self,
        name: str,
        *,
        cron: str | None = None,
        every: timedelta | None = None,
        type: str,
        payload: Mapping[str, Any] | None = None,
        tenant_id: str | UUID,
        queue: str | None = None,
        timezone: str = "UTC",
        catch_up: CatchUp = "skip",
    ) -> Schedule:
        """Declare a schedule (see :class:`Schedule` for the fields).

        Returns:
            The validated :class:`Schedule`.

        Raises:
            ValidationError: A bad field (``.path`` names it) or a name already added.
        """
        validate_type_name(type, path="type")
        tenant = validate_tenant_id(tenant_id)
        if queue is not None:
            validate_queue_name(queue, path="queue")
        if payload is not None and not isinstance(payload, Mapping):
            raise ValidationError("payload", "must be a mapping")
        try:
            schedule = Schedule(
                name=name,
                cron=cron,
                every=every,
                type=type,
                payload=dict(payload or {}),
                tenant_id=UUID(tenant),
                queue=queue,
                timezone=timezone,
                catch_up=catch_up,
            )
        except PydanticValidationError as exc:
            error = exc.errors()[0]
            path = ".".join(str(p) for p in error["loc"]) or "schedule"
            raise ValidationError(path, error["msg"].removeprefix("Value error, ")) from None
        with self._lock:
            if schedule.name in self._schedules:
                raise ValidationError("name", "a schedule with this name was already added")
            self._schedules[schedule.name] = schedule
        return schedule

    @property
    def schedules(self) -> builtins.list[Schedule]:
        """The declared schedules, in the order they were added."""
        return list(self._schedules.values())

    def due(self, now: datetime | None = None) -> builtins.list[tuple[Schedule, datetime]]:
        """The ``(schedule, slot)`` pairs to fire at ``now``, and mark them handled.

        Pure apart from this replica's memory of the last slot handled per schedule.
        """
        moment = _utc(now)
        out: builtins.list[tuple[Schedule, datetime]] = []
        with self._lock:
            for schedule in self._schedules.values():
                current = schedule.slot_at_or_before(moment)
                last = self._last.get(schedule.name)
                if last is not None and current <= last:
                    continue
                horizon = moment - self._grace
                if last is None:
                    # A replica starting: only the current slot, if recent (or "last").
                    late = current < horizon
                    fresh = [] if late and schedule.catch_up == "skip" else [current]
                else:
                    start = max(last, horizon)
                    fresh = list(islice(schedule.slots_between(start, moment), MAX_SLOTS_PER_CALL))
                    if last < horizon and schedule.catch_up == "last":
                        missed = schedule.slot_at_or_before(horizon)
                        if missed > last and missed not in fresh:
                            fresh.insert(0, missed)
                out.extend((schedule, slot) for slot in fresh)
                self._last[schedule.name] = current
        return out

    def next_due(self, now: datetime | None = None) -> datetime | None:
        """The earliest slot after ``now`` over all schedules (``None``: no schedules)."""
        moment = _utc(now)
        slots = [s.slot_after(moment) for s in self._schedules.values()]
        return min(slots) if slots else None

    def seconds_until_due(self, now: datetime | None = None) -> float:
        """How long a loop may sleep before its next ``run_due``: until the next slot,
        at most 1 s (so a paused clock or a new schedule is noticed quickly)."""
        moment = _utc(now)
        upcoming = self.next_due(moment)
        if upcoming is None:
            return MAX_TICK.total_seconds()
        return max(0.0, min((upcoming - moment).total_seconds(), MAX_TICK.total_seconds()))

    @staticmethod
    def job_items(pairs: builtins.list[tuple[Schedule, datetime]]) -> builtins.list[dict[str, Any]]:
        """``dispatch_many`` items for ``(schedule, slot)`` pairs: one keyed job per slot."""
        items = []
        for schedule, slot in pairs:
            item: dict[str, Any] = {
                "tenant_id": schedule.tenant_id,
                "type": schedule.type,
                "payload": schedule.payload,
                "run_at": slot,
                "idempotency_key": slot_key(schedule, slot),
            }
            if schedule.queue is not None:
                item["queue"] = schedule.queue
            items.append(item)
        return items

    def run_due(self, jobs: JobsClient, now: datetime | None = None) -> builtins.list[Job]:
        """Dispatch every due slot (one keyed job each) and return the jobs.

        If the dispatch fails, the slots are forgotten again so the next call retries them.
        """
        pairs = self.due(now)
        if not pairs:
            return []
        try:
            return jobs.dispatch_many(self.job_items(pairs))
        except BaseException:
            self._forget(pairs)
            raise

    async def arun_due(
        self, jobs: AsyncJobsClient, now: datetime | None = None
    ) -> builtins.list[Job]:
        """The async form of :meth:`run_due`."""
        pairs = self.due(now)
        if not pairs:
            return []
        try:
            return await jobs.dispatch_many(self.job_items(pairs))
        except BaseException:
            self._forget(pairs)
            raise

    def _forget(self, pairs: builtins.list[tuple[Schedule, datetime]]) -> None:
        """Roll this replica's memory back before ``pairs`` (their dispatch failed)."""
        with self._lock:
            for schedule, slot in pairs:
                before = slot - timedelta(microseconds=1)
                previous = schedule.slot_at_or_before(before)
                known = self._last.get(schedule.name)
                if known is not None and known >= slot:
                    self._last[schedule.name] = previous
