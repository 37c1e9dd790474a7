"""Lifecycle defaults that protect workers: lease renewal length, the RPC target table."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from supabase_jobs import ConfigurationError, JobsConfig
from supabase_jobs._async._client import AsyncJobsClient
from supabase_jobs._models import Job
from supabase_jobs._sync._client import JobsClient

from ._helpers import Flavor, Recorder, async_supabase, claimed_row, sync_supabase

BEAT = datetime(2026, 1, 25, 10, 0, tzinfo=timezone.utc)


def claimed(lease: int, **overrides: object) -> Job:
    """A claimed job whose lease was granted for ``lease`` seconds."""
    times = {
        "heartbeat_at": BEAT.isoformat(),
        "locked_until": (BEAT + timedelta(seconds=lease)).isoformat(),
    }
    return Job.model_validate(claimed_row(**{**times, **overrides}))


async def test_heartbeat_renews_for_the_granted_length(jobs: Flavor, recorder: Recorder) -> None:
    job = claimed(3600)
    recorder.queue(lambda request: _echo(request, [job]))
    await jobs.heartbeat(job)
    assert recorder.body()["p_lease_seconds"] == 3600  # not the 300 s default


async def test_heartbeat_batch_takes_the_longest_granted_lease(
    jobs: Flavor, recorder: Recorder
) -> None:
    a, b = claimed(60), claimed(900)
    recorder.queue(lambda request: _echo(request, [a, b]))
    await jobs.heartbeat([a, b])
    assert recorder.body()["p_lease_seconds"] == 900


async def test_heartbeat_explicit_length_wins(jobs: Flavor, recorder: Recorder) -> None:
    job = claimed(3600)
    recorder.queue(lambda request: _echo(request, [job]))
    await jobs.heartbeat(job, lease_seconds=30)
    assert recorder.body()["p_lease_seconds"] == 30


async def test_heartbeat_without_lease_times_uses_the_default(
    jobs: Flavor, recorder: Recorder
) -> None:
    job = Job.model_validate(claimed_row(heartbeat_at=None))
    recorder.queue(lambda request: _echo(request, [job]))
    await jobs.heartbeat(job)
    assert recorder.body()["p_lease_seconds"] == 300


def _echo(request: httpx.Request, rows: list[Job]) -> httpx.Response:
    return httpx.Response(200, json=[row.model_dump(mode="json") for row in rows])


@pytest.mark.parametrize(
    "config", [JobsConfig(table="legacy_jobs"), JobsConfig(db_schema="queue")], ids=str
)
@pytest.mark.parametrize("flavor", ["sync", "async"])
async def test_lifecycle_calls_refuse_a_table_the_functions_do_not_serve(
    config: JobsConfig, flavor: str
) -> None:
    recorder = Recorder()
    if flavor == "sync":
        client: JobsClient | AsyncJobsClient = JobsClient(sync_supabase(recorder), config=config)
    else:
        client = AsyncJobsClient(await async_supabase(recorder), config=config)
    jobs = Flavor(client, flavor)
    with pytest.raises(ConfigurationError) as info:
        await jobs.claim("worker-1")
    assert "SUPABASE_JOBS_TABLE" in str(info.value)
    with pytest.raises(ConfigurationError):
        await jobs.complete(claimed(60))
    assert recorder.requests == []  # refused before anything was sent
