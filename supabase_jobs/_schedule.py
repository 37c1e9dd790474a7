"""Periodic schedules, sans-I/O: the :class:`Schedule` model and its slot arithmetic.

A *slot* is the instant (an aware UTC ``datetime``) a run of a schedule is due. Slots are
what replicas agree on: every replica computes the same slots from the same definition, and
the job of a slot is dispatched with an idempotency key naming the schedule and the slot,
so the database keeps exactly one job per slot however many replicas fire it
(``ScheduleSet`` in ``_schedule_set.py`` does the dispatching).

- ``every=`` slots are ``epoch + k * every`` on UTC: no time zone, no DST, sub-minute OK.
- ``cron=`` slots come from croniter (five fields, minute resolution) evaluated in the
  schedule's time zone, then converted to UTC. Around DST changes: a time skipped by the
  spring-forward gap runs once, right after the gap (croniter's rule); a fixed time that
  occurs twice on fall-back day runs once, at its first occurrence (Vixie cron's rule, which
  we apply on top of croniter, which would fire both), while an hourly job (``*`` or ``*/n``
  in the hour field) runs in both repeated hours, as in cron.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["CatchUp", "Schedule", "slot_key"]

CatchUp = Literal["skip", "last"]
_NAME = re.compile(r"^[a-z][a-z0-9_.:-]{0,62}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: Slots computed per call at most (a tiny ``every`` after a long pause would be unbounded).
MAX_SLOTS_PER_CALL = 1000


class Schedule(BaseModel):
    """One periodic job definition.

    Attributes:
        name: Unique per ``ScheduleSet`` (``^[a-z][a-z0-9_.:-]{0,62}$``); part of every
            slot's idempotency key, so renaming a schedule starts a new series.
        cron: A five-field cron expression (minute hour day month weekday), or ``None``.
        every: A fixed interval (at least 1 second, whole milliseconds), or ``None``.
        type: The job type dispatched.
        payload: The job payload (validated and scrubbed at dispatch, like any job's).
        tenant_id: The tenant the jobs belong to.
        queue: The queue (``None``: the client's default).
        timezone: IANA zone the cron expression is read in (ignored for ``every``).
        catch_up: After downtime, ``"skip"`` the missed slots (default) or run the
            ``"last"`` one.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    cron: str | None = None
    every: timedelta | None = None
    type: str
    payload: dict[str, Any] = Field(default_factory=dict)
    tenant_id: UUID
    queue: str | None = None
    timezone: str = "UTC"
    catch_up: CatchUp = "skip"

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must match ^[a-z][a-z0-9_.:-]{0,62}$")
        return value

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # Six-field forms disagree between libraries on where the seconds go: use every=.
        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError("must be a valid five-field cron expression (use every= for seconds)")
        return value

    @field_validator("every")
    @classmethod
    def _check_every(cls, value: timedelta | None) -> timedelta | None:
        if value is None:
            return None
        if value < timedelta(seconds=1) or value > timedelta(days=366):
            raise ValueError("must be between 1 second and 366 days")
        if value % timedelta(milliseconds=1):
            raise ValueError("must be a whole number of milliseconds")
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("is not a known IANA time zone") from None
        return value

    @model_validator(mode="after")
    def _one_trigger(self) -> Schedule:
        if (self.cron is None) == (self.every is None):
            raise ValueError("give exactly one of cron= and every=")
        return self

    @property
    def period(self) -> timedelta:
        """The nominal distance between slots (for cron: between the next two)."""
        if self.every is not None:
            return self.every
        first = self.slot_after(datetime.now(timezone.utc))
        return self.slot_after(first) - first

    def slot_after(self, moment: datetime) -> datetime:
        """The first slot strictly after ``moment`` (aware), in UTC."""
        return next(self.slots_between(moment, None))

    def slot_at_or_before(self, moment: datetime) -> datetime:
        """The latest slot at or before ``moment`` (aware), in UTC."""
        moment = moment.astimezone(timezone.utc)
        if self.every is not None:
            steps = (moment - _EPOCH) // self.every
            return _EPOCH + steps * self.every
        assert self.cron is not None
        # croniter's get_prev mishandles the repeated hour on fall-back day (from 02:35+01:00
        # it answers 02:30+02:00, skipping 02:30+01:00), so it only gives a starting point:
        # the answer is found by walking forward, the direction DST handling is right in.
        zone = ZoneInfo(self.timezone)
        rough: datetime = croniter(self.cron, moment.astimezone(zone)).get_prev(datetime)
        lookback = timedelta(hours=3)
        while True:
            start = min(rough.astimezone(timezone.utc), moment) - lookback
            found = None
            for slot in self.slots_between(start, moment):
                found = slot
            if found is not None:
                return found
            lookback *= 8  # only if croniter's starting point was past the moment

    def slots_between(self, after: datetime, until: datetime | None) -> Iterator[datetime]:
        """Slots in ``(after, until]`` in order (unbounded when ``until`` is None), in UTC."""
        after = after.astimezone(timezone.utc)
        if self.every is not None:
            slot = _EPOCH + ((after - _EPOCH) // self.every + 1) * self.every
            while until is None or slot <= until:
                yield slot
                slot += self.every
            return
        assert self.cron is not None
        it = croniter(self.cron, after.astimezone(ZoneInfo(self.timezone)))
        while True:
            local: datetime = it.get_next(datetime)
            if self._repeated_fixed_time(local):
                continue
            slot = local.astimezone(timezone.utc)
            if until is not None and slot > until:
                return
            yield slot

    def _repeated_fixed_time(self, local: datetime) -> bool:
        """Whether ``local`` is the second occurrence of a fixed wall time (fall-back day)."""
        first, second = local.replace(fold=0), local.replace(fold=1)
        if first.utcoffset() == second.utcoffset():
            return False  # not an ambiguous wall time
        if local.utcoffset() != second.utcoffset():
            return False  # the first occurrence
        assert self.cron is not None
        hour_field = self.cron.split()[1]
        return not hour_field.startswith("*")


def slot_key(schedule: Schedule, slot: datetime) -> str:
    """The idempotency key of a schedule's slot: ``schedule:<name>:<UTC instant>``.

    Keys use UTC instants, never local wall times, so the two 02:30 runs of an hourly job
    on fall-back day get different keys.
    """
    instant = slot.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    return f"schedule:{schedule.name}:{instant}Z"
