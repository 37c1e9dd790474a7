"""Queue limits, fairness, queue stats and batched prune: request shapes and parsing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from supabase_jobs import PruneProgress, QueueLimits, QueueStats
from supabase_jobs._errors import BackendError, ValidationError

from ._helpers import TENANT, Flavor, Recorder


def rpc_body(recorder: Recorder, index: int, name: str) -> Any:
    request = recorder.requests[index]
    assert request.method == "POST"
    assert request.url.path == f"/rest/v1/rpc/{name}"
    return recorder.body(index)


async def test_set_and_clear_queue_limits(jobs: Flavor, recorder: Recorder) -> None:
    row = {
        "queue": "api",
        "tenant_id": None,
        "fair": None,
        "max_running": 100,
        "max_running_per_tenant": 3,
        "updated_at": "2026-01-01T00:00:00Z",
    }
    recorder.queue(httpx.Response(200, json=[row]), httpx.Response(200, json=[]))
    limits = await jobs.set_queue_limits("api", max_running_per_tenant=3, max_running=100)
    assert limits == QueueLimits(queue="api", max_running=100, max_running_per_tenant=3)
    assert rpc_body(recorder, 0, "sj_set_queue_limits_v1") == {
        "p_queue": "api",
        "p_max_running": 100,
        "p_max_running_per_tenant": 3,
        "p_tenant_id": None,
    }
    assert await jobs.clear_queue_limits("api", tenant_id=TENANT) is None
    assert rpc_body(recorder, 1, "sj_set_queue_limits_v1") == {
        "p_queue": "api",
        "p_max_running": None,
        "p_max_running_per_tenant": None,
        "p_tenant_id": TENANT,
    }


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"queue": "Bad Queue"}, "queue"),
        ({"queue": "api", "max_running": -1}, "max_running"),
        ({"queue": "api", "max_running_per_tenant": True}, "max_running_per_tenant"),
        ({"queue": "api", "max_running_per_tenant": 1.5}, "max_running_per_tenant"),
        ({"queue": "api", "tenant_id": "nope"}, "tenant_id"),
        ({"queue": "api", "tenant_id": TENANT, "max_running": 3}, "max_running"),
    ],
)
async def test_bad_limits_are_refused_before_sending(
    jobs: Flavor, recorder: Recorder, kwargs: dict[str, Any], path: str
) -> None:
    kwargs = dict(kwargs)  # shared by both flavors
    queue = kwargs.pop("queue")
    with pytest.raises(ValidationError) as info:
        await jobs.set_queue_limits(queue, **kwargs)
    assert info.value.path == path
    assert recorder.requests == []


async def test_fairness_switch_and_limits_listing(jobs: Flavor, recorder: Recorder) -> None:
    recorder.queue(httpx.Response(200, json=[]))
    await jobs.set_queue_fair("api", False)
    assert rpc_body(recorder, 0, "sj_set_queue_fair_v1") == {"p_queue": "api", "p_fair": False}
    with pytest.raises(ValidationError):
        await jobs.set_queue_fair("api", "no")
    rows = [
        {
            "queue": "api",
            "tenant_id": TENANT,
            "fair": None,
            "max_running": None,
            "max_running_per_tenant": 1,
        }
    ]
    recorder.queue(httpx.Response(200, json=rows))
    (limits,) = await jobs.queue_limits("api")
    assert str(limits.tenant_id) == TENANT and limits.max_running_per_tenant == 1
    request = recorder.last
    assert request.method == "GET" and request.url.path == "/rest/v1/job_queue_settings"
    assert request.url.params["queue"] == "eq.api"


async def test_queue_stats(jobs: Flavor, recorder: Recorder) -> None:
    row = {
        "queue": "mail",
        "pending": 4,
        "processing": 1,
        "completed": 9,
        "failed": 0,
        "cancelled": 0,
        "oldest_pending_age_seconds": 12.5,
        "finished_last_hour": 9,
        "finished_per_minute": [0] * 60 + [9],
    }
    recorder.queue(httpx.Response(200, json=[row]), httpx.Response(200, json={"x": 1}))
    (stats,) = await jobs.queue_stats()
    assert isinstance(stats, QueueStats) and stats.pending == 4
    assert stats.finished_per_minute[-1] == 9 and len(stats.finished_per_minute) == 61
    assert rpc_body(recorder, 0, "sj_queue_stats_v1") == {}
    with pytest.raises(BackendError):
        await jobs.queue_stats()


async def test_prune_loops_batches_and_reports_progress(jobs: Flavor, recorder: Recorder) -> None:
    recorder.queue(
        httpx.Response(200, json=[{"deleted": 10000, "next_page": 400, "total_pages": 1000}]),
        httpx.Response(200, json=[{"deleted": 2500, "next_page": 900, "total_pages": 1000}]),
        httpx.Response(200, json=[{"deleted": 0, "next_page": 1000, "total_pages": 1000}]),
    )
    seen: list[PruneProgress] = []
    assert await jobs.prune(3600, on_progress=seen.append) == 12500
    pages = [rpc_body(recorder, i, "sj_prune_batch_v1")["p_from_page"] for i in range(3)]
    assert pages == [0, 400, 900]
    assert [p.deleted for p in seen] == [10000, 12500, 12500]
    assert seen[0].fraction == 0.4 and seen[-1].fraction == 1.0 and seen[-1].batches == 3


async def test_prune_stops_after_max_batches_and_validates(
    jobs: Flavor, recorder: Recorder
) -> None:
    recorder.queue(
        httpx.Response(200, json=[{"deleted": 5, "next_page": 1, "total_pages": 9}]),
    )
    assert await jobs.prune(0, batch_size=5, max_batches=1) == 5
    assert rpc_body(recorder, 0, "sj_prune_batch_v1")["p_batch_size"] == 5
    for kwargs, path in (
        ({"batch_size": 0}, "batch_size"),
        ({"max_batches": 0}, "max_batches"),
        ({"statuses": ["pending"]}, "statuses[0]"),
    ):
        with pytest.raises(ValidationError) as info:
            await jobs.prune(60, **kwargs)
        assert info.value.path == path
    assert len(recorder.requests) == 1
    recorder.queue(httpx.Response(200, json=[{"oops": 1}]))
    with pytest.raises(BackendError):
        await jobs.prune(60)
