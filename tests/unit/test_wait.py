"""wait(): the poll schedule (pure), argument checks before any request, the verdict."""

from __future__ import annotations

import math
import random
import uuid
from datetime import timedelta
from itertools import islice

import httpx
import pytest

from supabase_jobs import (
    JobCancelledError,
    JobFailedError,
    JobsError,
    NotFoundError,
    ValidationError,
    WaitTimeoutError,
)
from supabase_jobs._models import Job
from supabase_jobs._waiting import JITTER, WaitPlan, finished, poll_delays, wait_plan

from ._helpers import Flavor, Recorder, job_row


def test_delays_double_then_stay_at_the_cap() -> None:
    plan = WaitPlan(timeout=60, poll_interval=0.25, max_poll_interval=5)
    delays = list(islice(poll_delays(plan, random.Random(7)), 12))
    bases = [0.25, 0.5, 1, 2, 4, 5, 5, 5, 5, 5, 5, 5]
    for delay, base in zip(delays, bases, strict=True):
        assert base * (1 - JITTER) <= delay <= base
    assert all(d <= 5 for d in delays)
    assert delays[5:] != [delays[5]] * 7  # jitter: capped delays are not all equal


def test_jitter_spreads_waiters_apart() -> None:
    plan = WaitPlan(timeout=60, poll_interval=1, max_poll_interval=1)
    firsts = {next(poll_delays(plan, random.Random(seed))) for seed in range(50)}
    assert len(firsts) == 50
    assert min(firsts) >= 1 - JITTER and max(firsts) <= 1


def test_same_seed_same_schedule() -> None:
    plan = WaitPlan(timeout=60, poll_interval=0.1, max_poll_interval=2)
    first = list(islice(poll_delays(plan, random.Random(3)), 8))
    assert first == list(islice(poll_delays(plan, random.Random(3)), 8))


def test_requests_in_a_long_wait_grow_logarithmically() -> None:
    # How many polls a 60 s wait costs: the first few double, the rest are at the cap.
    plan = wait_plan(60, 0.25, 5)
    total, polls = 0.0, 0
    for delay in poll_delays(plan, random.Random(1)):
        if total >= 60:
            break
        total += delay
        polls += 1
    assert 12 <= polls <= 20


def test_wait_plan_accepts_timedelta() -> None:
    plan = wait_plan(timedelta(minutes=2), timedelta(milliseconds=100), 3)
    assert plan == WaitPlan(120.0, 0.1, 3.0)


@pytest.mark.parametrize(
    ("args", "path"),
    [
        ((0, 0.25, 5), "timeout"),
        ((-1, 0.25, 5), "timeout"),
        ((math.nan, 0.25, 5), "timeout"),
        ((True, 0.25, 5), "timeout"),
        (("60", 0.25, 5), "timeout"),
        ((86_401, 0.25, 5), "timeout"),
        ((60, 0, 5), "poll_interval"),
        ((60, math.inf, 5), "poll_interval"),
        ((60, 0.25, None), "max_poll_interval"),
        ((60, 2, 1), "max_poll_interval"),
    ],
)
def test_wait_plan_refuses(args: tuple[object, object, object], path: str) -> None:
    with pytest.raises(ValidationError) as info:
        wait_plan(*args)
    assert info.value.path == path


def job(**overrides: object) -> Job:
    return Job.model_validate(job_row(**overrides))


def test_verdicts() -> None:
    assert finished(job(status="completed", result={"ok": 1})) is True
    assert finished(job(status="pending")) is False
    assert finished(job(status="processing", attempts=1)) is False
    with pytest.raises(JobFailedError):
        finished(job(status="failed", attempts=3))
    with pytest.raises(JobCancelledError):
        finished(job(status="cancelled"))


def test_failed_error_scrubs_and_keeps_values_out_of_the_message() -> None:
    failed = job(
        status="failed",
        attempts=2,
        payload={"email": "alice@example.com"},
        last_error="RuntimeError: login failed password=hunter2 for alice@example.com",
    )
    with pytest.raises(JobFailedError) as info:
        finished(failed)
    error = info.value
    assert isinstance(error, JobsError)
    assert error.job is failed and error.job_id == str(failed.id)
    assert error.last_error is not None and "hunter2" not in error.last_error
    assert "RuntimeError" in error.last_error
    assert str(error) == f"job {failed.id} (type test_job) failed after 2 attempt(s)"
    assert "alice" not in repr(error)


def test_timeout_error_is_a_builtin_timeout() -> None:
    error = WaitTimeoutError(job(status="processing"), 1.5)
    assert isinstance(error, TimeoutError) and isinstance(error, JobsError)
    assert str(error).endswith("still processing after waiting 1.5 s")


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"job": "not-a-uuid"}, "job"),
        ({"job": uuid.uuid4(), "timeout": 0}, "timeout"),
        ({"job": uuid.uuid4(), "poll_interval": -1}, "poll_interval"),
        ({"job": uuid.uuid4(), "poll_interval": 3, "max_poll_interval": 1}, "max_poll_interval"),
    ],
)
async def test_bad_arguments_send_nothing(
    jobs: Flavor, recorder: Recorder, kwargs: dict[str, object], path: str
) -> None:
    with pytest.raises(ValidationError) as info:
        await jobs.wait(**kwargs)
    assert info.value.path == path
    assert recorder.requests == []


async def test_polls_with_get_until_completed(jobs: Flavor, recorder: Recorder) -> None:
    row = job_row(status="processing", attempts=1)
    recorder.queue(
        httpx.Response(200, json=[row]),
        httpx.Response(200, json=[row]),
        httpx.Response(200, json=[{**row, "status": "completed", "result": {"n": 3}}]),
    )
    done = await jobs.wait(row["id"], timeout=30, poll_interval=0.01, max_poll_interval=0.02)
    assert done.result == {"n": 3}
    assert len(recorder.requests) == 3
    for request in recorder.requests:
        assert request.method == "GET"
        assert request.url.path == "/rest/v1/jobs"
        assert request.url.params["id"] == f"eq.{row['id']}"


async def test_missing_job_is_not_found(jobs: Flavor, recorder: Recorder) -> None:
    recorder.queue(httpx.Response(200, json=[]))
    with pytest.raises(NotFoundError):
        await jobs.wait(uuid.uuid4(), timeout=5)
    assert len(recorder.requests) == 1
