"""Three replicas run the same every-1-second schedule for 10 s through the local gateway:
the database holds exactly one job per slot, with no gaps and no duplicates."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

import httpx
import psycopg
import pytest
from supabase import ClientOptions, create_client

from supabase_jobs import JobsClient, ScheduleSet
from supabase_jobs.local import LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TENANT = "00000000-0000-4000-8000-0000000000c1"
REPLICAS = 3
SECONDS = 10


def replica(stack: LocalStack, stop: threading.Event, errors: list[BaseException]) -> None:
    try:
        with httpx.Client(timeout=30) as http:
            options = ClientOptions(httpx_client=http)
            jobs = JobsClient(create_client(stack.url, stack.service_role_key, options))
            schedules = ScheduleSet()
            schedules.add(
                "heartbeat-report",
                every=timedelta(seconds=1),
                type="test_job",
                tenant_id=TENANT,
                payload={"kind": "report"},
            )
            while not stop.is_set():
                schedules.run_due(jobs)
                stop.wait(min(schedules.seconds_until_due(), 0.25))
    except BaseException as exc:  # pragma: no cover - surfaced by the assertion below
        errors.append(exc)


def test_three_replicas_enqueue_exactly_one_job_per_slot(supabase_jobs_clean: LocalStack) -> None:
    stack = supabase_jobs_clean
    stop = threading.Event()
    errors: list[BaseException] = []
    threads = [
        threading.Thread(target=replica, args=(stack, stop, errors)) for _ in range(REPLICAS)
    ]
    started = datetime.now(timezone.utc)
    for t in threads:
        t.start()
    time.sleep(SECONDS)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    ended = datetime.now(timezone.utc)
    assert not errors, errors
    with psycopg.connect(stack.database_url) as conn:
        rows: list[Any] = conn.execute(
            "select run_at, idempotency_key, count(*) over (partition by run_at) as copies"
            " from public.jobs where tenant_id = %s order by run_at",
            [TENANT],
        ).fetchall()
    slots = [r[0] for r in rows]
    assert all(r[2] == 1 for r in rows), "a slot was enqueued twice"
    assert len(set(r[1] for r in rows)) == len(rows)
    # No gaps: consecutive whole seconds, covering the whole run (the first and last second
    # may fall either side of the boundaries, hence the slack of one slot at each end).
    assert all(b - a == timedelta(seconds=1) for a, b in pairwise(slots)), slots
    expected = int((ended - started).total_seconds())
    assert expected - 1 <= len(slots) <= expected + 2, (len(slots), expected)
    assert slots[0] <= started.replace(microsecond=0) + timedelta(seconds=1)
    assert slots[-1] >= ended.replace(microsecond=0) - timedelta(seconds=2)
