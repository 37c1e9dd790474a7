"""Schedule slots (cron in a time zone, every=), DST transitions, catch-up; no I/O."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from supabase_jobs import Schedule, ScheduleSet, ValidationError
from supabase_jobs._schedule import slot_key

TENANT = "00000000-0000-4000-8000-000000000001"
PARIS = ZoneInfo("Europe/Paris")
UTC = timezone.utc


def paris(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=PARIS, fold=fold)  # type: ignore[arg-type,misc]


def schedule(**kwargs: Any) -> Schedule:
    kwargs.setdefault("name", "s")
    kwargs.setdefault("type", "test_job")
    kwargs.setdefault("tenant_id", TENANT)
    return Schedule(**kwargs)


def slots(s: Schedule, start: datetime, end: datetime) -> list[str]:
    return [x.astimezone(PARIS).isoformat() for x in s.slots_between(start, end)]


def test_spring_forward_runs_a_skipped_time_once_right_after_the_gap() -> None:
    # 2026-03-29: 02:00 -> 03:00 in Paris; 02:30 does not exist that day.
    s = schedule(cron="30 2 * * *", timezone="Europe/Paris")
    got = slots(s, paris(2026, 3, 28, 12), paris(2026, 3, 31, 12))
    assert got == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]
    hourly = schedule(cron="30 * * * *", timezone="Europe/Paris")
    got = slots(hourly, paris(2026, 3, 29, 0, 45), paris(2026, 3, 29, 4, 0))
    assert got == ["2026-03-29T01:30:00+01:00", "2026-03-29T03:30:00+02:00"]


def test_fall_back_runs_a_fixed_time_once_and_hourly_jobs_in_both_hours() -> None:
    # 2026-10-25: 03:00 -> 02:00 in Paris; 02:30 happens twice.
    s = schedule(cron="30 2 * * *", timezone="Europe/Paris")
    got = slots(s, paris(2026, 10, 24, 12), paris(2026, 10, 26, 12))
    assert got == ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]
    hourly = schedule(cron="30 * * * *", timezone="Europe/Paris")
    instants = list(hourly.slots_between(paris(2026, 10, 25, 1, 45), paris(2026, 10, 25, 3, 45)))
    assert [x.astimezone(PARIS).isoformat() for x in instants] == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:30:00+01:00",
        "2026-10-25T03:30:00+01:00",
    ]
    # Keys are UTC instants: the two 02:30 runs are different slots.
    keys = [slot_key(hourly, x) for x in instants[:2]]
    assert keys == [
        "schedule:s:2026-10-25T00:30:00.000Z",
        "schedule:s:2026-10-25T01:30:00.000Z",
    ]
    # The latest slot at or before a moment agrees with the forward iteration.
    # (Compared in UTC: Python never calls an ambiguous local time equal across zones.)
    assert s.slot_at_or_before(paris(2026, 10, 25, 2, 45, fold=1)) == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )
    assert hourly.slot_at_or_before(instants[1] + timedelta(minutes=5)) == instants[1]


def test_every_slots_are_utc_multiples_and_sub_minute() -> None:
    s = schedule(every=timedelta(seconds=5))
    start = datetime(2026, 1, 1, 0, 0, 3, tzinfo=UTC)
    got = list(s.slots_between(start, start + timedelta(seconds=12)))
    assert [x.second for x in got] == [5, 10, 15]
    assert s.slot_at_or_before(start) == datetime(2026, 1, 1, tzinfo=UTC)
    assert s.slot_after(got[-1]) == got[-1] + timedelta(seconds=5)
    assert slot_key(s, got[0]) == "schedule:s:2026-01-01T00:00:05.000Z"


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"cron": "* * * * * *"}, "cron"),
        ({"cron": "61 * * * *"}, "cron"),
        ({"every": timedelta(milliseconds=500)}, "every"),
        ({"every": timedelta(seconds=1, microseconds=1)}, "every"),
        ({"cron": "* * * * *", "every": timedelta(seconds=5)}, "schedule"),
        ({}, "schedule"),
        ({"cron": "* * * * *", "timezone": "Mars/Olympus"}, "timezone"),
        ({"cron": "* * * * *", "catch_up": "all"}, "catch_up"),
        ({"cron": "* * * * *", "name": "Bad Name"}, "name"),
        ({"cron": "* * * * *", "type": "Bad Type"}, "type"),
        ({"cron": "* * * * *", "tenant_id": "nope"}, "tenant_id"),
        ({"cron": "* * * * *", "queue": "Q!"}, "queue"),
        ({"cron": "* * * * *", "payload": [1]}, "payload"),
    ],
)
def test_add_refuses_bad_fields_naming_them(kwargs: dict[str, Any], path: str) -> None:
    args = {"name": "s", "type": "test_job", "tenant_id": TENANT, **kwargs}
    with pytest.raises(ValidationError) as info:
        ScheduleSet().add(**args)
    assert info.value.path == path


def test_duplicate_names_are_refused() -> None:
    schedules = ScheduleSet()
    schedules.add("s", every=timedelta(seconds=1), type="test_job", tenant_id=TENANT)
    with pytest.raises(ValidationError) as info:
        schedules.add("s", every=timedelta(seconds=2), type="test_job", tenant_id=TENANT)
    assert info.value.path == "name"


def test_due_fires_each_slot_once_and_fills_short_gaps() -> None:
    schedules = ScheduleSet(grace=timedelta(seconds=10))
    schedules.add("s", every=timedelta(seconds=1), type="test_job", tenant_id=TENANT)
    t0 = datetime(2026, 1, 1, 12, 0, 0, 300000, tzinfo=UTC)
    first = [slot for _, slot in schedules.due(t0)]
    assert first == [datetime(2026, 1, 1, 12, tzinfo=UTC)]  # a new replica: current only
    assert schedules.due(t0 + timedelta(milliseconds=200)) == []
    later = [slot.second for _, slot in schedules.due(t0 + timedelta(seconds=3))]
    assert later == [1, 2, 3]  # a slow tick loses nothing
    # A pause longer than grace: the missed slots are skipped (catch_up="skip").
    resumed = [slot.second for _, slot in schedules.due(t0 + timedelta(seconds=30))]
    assert resumed == list(range(21, 31))  # those at most 10 s old


def test_catch_up_last_runs_the_latest_missed_slot() -> None:
    schedules = ScheduleSet(grace=timedelta(seconds=60))
    schedules.add("skip", cron="0 3 * * *", type="test_job", tenant_id=TENANT)
    schedules.add("last", cron="0 3 * * *", type="test_job", tenant_id=TENANT, catch_up="last")
    now = datetime(2026, 5, 2, 12, tzinfo=UTC)  # 9 hours after the day's slot
    fired = {s.name: slot for s, slot in schedules.due(now)}
    assert fired == {"last": datetime(2026, 5, 2, 3, tzinfo=UTC)}
    # Three days later (downtime): "last" runs the latest missed slot only.
    fired_later = [(s.name, slot) for s, slot in schedules.due(now + timedelta(days=3))]
    assert fired_later == [("last", datetime(2026, 5, 5, 3, tzinfo=UTC))]


def test_next_wakeup_and_items() -> None:
    schedules = ScheduleSet()
    assert schedules.seconds_until_due() == 1.0
    schedules.add(
        "s",
        every=timedelta(seconds=10),
        type="test_job",
        tenant_id=TENANT,
        queue="cron",
        payload={"k": 1},
    )
    now = datetime(2026, 1, 1, 0, 0, 9, 750000, tzinfo=UTC)
    assert schedules.next_due(now) == datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)
    assert schedules.seconds_until_due(now) == 0.25
    assert schedules.seconds_until_due(now + timedelta(seconds=1)) == 1.0
    (item,) = ScheduleSet.job_items(schedules.due(now))
    assert item == {
        "tenant_id": schedules.schedules[0].tenant_id,
        "type": "test_job",
        "payload": {"k": 1},
        "run_at": datetime(2026, 1, 1, tzinfo=UTC),
        "idempotency_key": "schedule:s:2026-01-01T00:00:00.000Z",
        "queue": "cron",
    }
    with pytest.raises(ValidationError):
        schedules.due(datetime(2026, 1, 1))  # naive


def test_a_failed_dispatch_is_retried_on_the_next_call() -> None:
    schedules = ScheduleSet()
    schedules.add("s", every=timedelta(seconds=1), type="test_job", tenant_id=TENANT)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    class Broken:
        def dispatch_many(self, items: Any) -> Any:
            raise RuntimeError("down")

    with pytest.raises(RuntimeError):
        schedules.run_due(Broken(), t0)  # type: ignore[arg-type]
    assert [slot for _, slot in schedules.due(t0)] == [t0]


async def test_arun_due_dispatches_keyed_items_once() -> None:
    schedules = ScheduleSet()
    schedules.add("s", every=timedelta(seconds=1), type="test_job", tenant_id=TENANT)
    sent: list[list[dict[str, Any]]] = []

    class FakeAsync:
        async def dispatch_many(self, items: list[dict[str, Any]]) -> list[str]:
            sent.append(items)
            return [item["idempotency_key"] for item in items]

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    fake: Any = FakeAsync()
    first: list[Any] = await schedules.arun_due(fake, t0)
    assert first == ["schedule:s:2026-01-01T00:00:00.000Z"]
    assert await schedules.arun_due(fake, t0) == []
    assert len(sent) == 1
