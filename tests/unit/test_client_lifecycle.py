"""Request shapes and error mapping of get/list/claim/heartbeat/complete/fail/... (sync+async)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from supabase_jobs._errors import (
    ConfigurationError,
    InvalidStateError,
    LeaseLostError,
    NotClaimedError,
    NotFoundError,
    PayloadValidationError,
    PermissionDeniedError,
    ValidationError,
)
from supabase_jobs._models import Job, JobStatus

from ._helpers import TENANT, Flavor, Recorder, claimed_row, job_row


def rpc(recorder: Recorder, name: str) -> Any:
    request = recorder.last
    assert request.method == "POST"
    assert request.url.path == f"/rest/v1/rpc/{name}"
    assert request.headers["content-profile"] == "public"
    assert "prefer" not in request.headers
    return recorder.body()


def claimed(**overrides: Any) -> Job:
    return Job.model_validate(claimed_row(**overrides))


async def test_claim(jobs: Flavor, recorder: Recorder) -> None:
    rows = [claimed_row(), claimed_row()]
    recorder.queue(httpx.Response(200, json=rows))
    result = await jobs.claim("worker-1", types=["test_job"], limit=2, lease_seconds=60)
    assert rpc(recorder, "sj_claim_v1") == {
        "p_worker_id": "worker-1",
        "p_limit": 2,
        "p_lease_seconds": 60,
        "p_types": ["test_job"],
        "p_queues": None,
    }
    assert [str(job.lease_id) for job in result] == [row["lease_id"] for row in rows]
    assert all(job.status is JobStatus.PROCESSING for job in result)


async def test_claim_defaults_and_timedelta_lease(jobs: Flavor, recorder: Recorder) -> None:
    recorder.queue(httpx.Response(200, json=[]))
    assert await jobs.claim("w", queues=["mail"], lease_seconds=timedelta(minutes=2)) == []
    assert rpc(recorder, "sj_claim_v1") == {
        "p_worker_id": "w",
        "p_limit": 10,
        "p_lease_seconds": 120,
        "p_types": None,
        "p_queues": ["mail"],
    }


async def test_heartbeat_one_and_many(jobs: Flavor, recorder: Recorder) -> None:
    a, b = claimed(), claimed()
    recorder.queue(httpx.Response(200, json=[claimed_row(id=str(a.id), lease_id=str(a.lease_id))]))
    renewed = await jobs.heartbeat(a, lease_seconds=30)
    assert isinstance(renewed, Job)
    assert rpc(recorder, "sj_heartbeat_v1") == {
        "p_job_ids": [str(a.id)],
        "p_lease_ids": [str(a.lease_id)],
        "p_lease_seconds": 30,
    }
    # The server answers in its own order; the SDK returns input order.
    rows = [claimed_row(id=str(j.id), lease_id=str(j.lease_id)) for j in (b, a)]
    recorder.queue(httpx.Response(200, json=rows))
    renewed_many = await jobs.heartbeat([a, b])
    assert [j.id for j in renewed_many] == [a.id, b.id]
    assert rpc(recorder, "sj_heartbeat_v1")["p_job_ids"] == [str(a.id), str(b.id)]


async def test_heartbeat_short_answer_is_a_lost_lease_not_a_silent_success(
    jobs: Flavor, recorder: Recorder
) -> None:
    a, b = claimed(), claimed()
    recorder.queue(
        httpx.Response(200, json=[claimed_row(id=str(a.id), lease_id=str(a.lease_id))]),
        httpx.Response(200, json=[]),
    )
    with pytest.raises(LeaseLostError) as info:
        await jobs.heartbeat([a, b])
    assert info.value.job_ids == (str(b.id),)
    assert [j.id for j in info.value.completed] == [a.id]
    with pytest.raises(LeaseLostError) as single:  # was: returned [] typed as a Job
        await jobs.heartbeat(a)
    assert single.value.job_ids == (str(a.id),)


async def test_heartbeat_lease_lost(jobs: Flavor, recorder: Recorder) -> None:
    a = claimed()
    recorder.error(400, "SJ001", "lease lost", details=f'["{a.id}"]')
    with pytest.raises(LeaseLostError) as info:
        await jobs.heartbeat([a])
    assert info.value.job_ids == (str(a.id),)


async def test_complete_scrubs_the_result(jobs: Flavor, recorder: Recorder) -> None:
    job = claimed()
    recorder.queue(httpx.Response(200, json=job_row(id=str(job.id), status="completed")))
    done = await jobs.complete(job, {"summary": "ok", "access_token": "abc", "n": [1, 2]})
    assert rpc(recorder, "sj_complete_v1") == {
        "p_job_id": str(job.id),
        "p_lease_id": str(job.lease_id),
        "p_result": {"summary": "ok", "n": [1, 2]},
    }
    assert done.status is JobStatus.COMPLETED


async def test_complete_lease_lost_maps_and_sends_the_job_id(
    jobs: Flavor, recorder: Recorder
) -> None:
    job = claimed()
    recorder.error(400, "SJ001", "lease lost")
    with pytest.raises(LeaseLostError) as info:
        await jobs.complete(job)
    assert info.value.job_ids == (str(job.id),)


async def test_complete_many_reports_lost_leases_with_the_completed_ones(
    jobs: Flavor, recorder: Recorder
) -> None:
    a, b = claimed(), claimed()
    recorder.queue(httpx.Response(200, json=[job_row(id=str(a.id), status="completed")]))
    with pytest.raises(LeaseLostError) as info:
        await jobs.complete_many([a, (b, {"x": 1})])
    assert rpc(recorder, "sj_complete_many_v1") == {
        "p_items": [
            {"id": str(a.id), "lease_id": str(a.lease_id), "result": None},
            {"id": str(b.id), "lease_id": str(b.lease_id), "result": {"x": 1}},
        ]
    }
    assert info.value.job_ids == (str(b.id),)
    assert [str(j.id) for j in info.value.completed] == [str(a.id)]


async def test_complete_many_returns_input_order(jobs: Flavor, recorder: Recorder) -> None:
    a, b, c = claimed(), claimed(), claimed()
    rows = [job_row(id=str(j.id), status="completed") for j in (c, a, b)]
    recorder.queue(httpx.Response(200, json=rows))
    done = await jobs.complete_many([a, b, c])
    assert [j.id for j in done] == [a.id, b.id, c.id]


async def test_fail_stores_a_message_postgres_can_hold(jobs: Flavor, recorder: Recorder) -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("broken __str__")

    job = claimed()
    recorder.queue(
        httpx.Response(200, json=job_row(id=str(job.id))),
        httpx.Response(200, json=job_row(id=str(job.id))),
    )
    # NUL (Postgres text cannot hold it), a lone surrogate (not UTF-8), a huge message
    # with a secret near the cut.
    message = "bad\x00byte \ud800 " + "x" * 3990 + " password=hunter2-secret" + "y" * 50_000
    await jobs.fail(job, RuntimeError(message))
    stored = rpc(recorder, "sj_fail_v1")["p_error"]["message"]
    assert "\x00" not in stored
    stored.encode("utf-8")
    assert len(stored) == 4000
    assert stored.startswith("bad\ufffdbyte \ufffd ")
    assert "hunter2" not in stored
    await jobs.fail(job, Unprintable())
    assert rpc(recorder, "sj_fail_v1")["p_error"]["message"] == "<unprintable Unprintable>"


async def test_cancel_reason_is_cleaned_like_an_error(jobs: Flavor, recorder: Recorder) -> None:
    recorder.queue(httpx.Response(200, json=job_row(status="cancelled")))
    await jobs.cancel(job_row()["id"], reason="nul\x00 and " + "r" * 5000)
    reason = rpc(recorder, "sj_cancel_v1")["p_reason"]
    assert "\x00" not in reason and len(reason) == 4000


async def test_fail_stores_a_scrubbed_error(jobs: Flavor, recorder: Recorder) -> None:
    job = claimed()
    recorder.queue(httpx.Response(200, json=job_row(id=str(job.id), status="pending")))
    error = RuntimeError("upstream said: Authorization: Bearer abc.def.ghi password=hunter2")
    await jobs.fail(job, error, retry_in=timedelta(seconds=90))
    body = rpc(recorder, "sj_fail_v1")
    assert body["p_job_id"] == str(job.id)
    assert body["p_lease_id"] == str(job.lease_id)
    assert body["p_retry"] is True
    assert body["p_retry_in_seconds"] == 90.0
    assert body["p_error"]["type"] == "RuntimeError"
    assert "hunter2" not in body["p_error"]["message"]
    assert "abc.def.ghi" not in body["p_error"]["message"]
    assert body["p_error"]["message"].startswith("upstream said:")


async def test_fail_without_retry_and_with_a_message(jobs: Flavor, recorder: Recorder) -> None:
    job = claimed()
    recorder.queue(httpx.Response(200, json=job_row(id=str(job.id), status="failed")))
    await jobs.fail(job, "gave up", retry=False)
    body = rpc(recorder, "sj_fail_v1")
    assert body["p_error"] == {"type": None, "message": "gave up"}
    assert body["p_retry"] is False
    assert body["p_retry_in_seconds"] is None


async def test_snooze(jobs: Flavor, recorder: Recorder) -> None:
    job = claimed()
    when = datetime(2031, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    recorder.queue(httpx.Response(200, json=job_row(id=str(job.id))))
    await jobs.snooze(job, when)
    assert rpc(recorder, "sj_snooze_v1") == {
        "p_job_id": str(job.id),
        "p_lease_id": str(job.lease_id),
        "p_run_at": "2031-05-06T07:08:09+00:00",
    }


async def test_cancel_and_retry(jobs: Flavor, recorder: Recorder) -> None:
    row = job_row(status="cancelled")
    recorder.queue(httpx.Response(200, json=row), httpx.Response(200, json=job_row(id=row["id"])))
    cancelled = await jobs.cancel(row["id"], reason="user asked; token=abc123")
    assert rpc(recorder, "sj_cancel_v1") == {
        "p_job_id": row["id"],
        "p_reason": "user asked; token=[REDACTED]",
    }
    assert cancelled.status is JobStatus.CANCELLED
    await jobs.retry(cancelled)
    assert rpc(recorder, "sj_retry_v1") == {"p_job_id": row["id"], "p_run_at": None}


async def test_cancel_and_retry_errors(jobs: Flavor, recorder: Recorder) -> None:
    recorder.error(400, "SJ002", "job not found")
    recorder.error(400, "SJ003", "invalid state")
    recorder.error(403, "42501", "permission denied for function sj_retry_v1")
    job_id = job_row()["id"]
    with pytest.raises(NotFoundError) as info:
        await jobs.cancel(job_id)
    assert info.value.job_id == job_id
    with pytest.raises(InvalidStateError):
        await jobs.retry(job_id)
    with pytest.raises(PermissionDeniedError):
        await jobs.retry(job_id)


async def test_stats(jobs: Flavor, recorder: Recorder) -> None:
    recorder.queue(
        httpx.Response(
            200,
            json=[
                {"type": "test_job", "status": "pending", "count": 3},
                {"type": "test_job", "status": "failed", "count": 1},
                {"type": "ai_generation", "status": "pending", "count": 2},
            ],
        )
    )
    stats = await jobs.stats(tenant_id=TENANT)
    assert rpc(recorder, "sj_stats_v1") == {"p_tenant_id": TENANT}
    assert stats.total == 6
    assert stats.by_status[JobStatus.PENDING] == 5
    assert stats.by_status[JobStatus.COMPLETED] == 0
    assert stats.by_type["test_job"][JobStatus.FAILED] == 1


async def test_prune(jobs: Flavor, recorder: Recorder) -> None:
    # Batched since 0006 (tests/unit/test_sched_admin.py has the loop).
    recorder.queue(httpx.Response(200, json=[{"deleted": 7, "next_page": 3, "total_pages": 3}]))
    assert await jobs.prune(timedelta(days=7), statuses=["completed"]) == 7
    assert rpc(recorder, "sj_prune_batch_v1") == {
        "p_older_than_seconds": 604800.0,
        "p_statuses": ["completed"],
        "p_batch_size": 10000,
        "p_from_page": 0,
    }


async def test_get_and_not_found(jobs: Flavor, recorder: Recorder) -> None:
    row = job_row()
    recorder.queue(httpx.Response(200, json=[row]), httpx.Response(200, json=[]))
    job = await jobs.get(row["id"], tenant_id=TENANT)
    request = recorder.last
    assert request.method == "GET"
    assert request.url.path == "/rest/v1/jobs"
    assert dict(request.url.params) == {
        "select": "*",
        "id": f"eq.{row['id']}",
        "tenant_id": f"eq.{TENANT}",
    }
    assert str(job.id) == row["id"]
    with pytest.raises(NotFoundError):
        await jobs.get(row["id"])


async def test_list(jobs: Flavor, recorder: Recorder) -> None:
    recorder.queue(httpx.Response(200, json=[job_row(), job_row()]))
    result = await jobs.list(
        tenant_id=TENANT, status=["pending", JobStatus.FAILED], type="test_job", limit=20
    )
    assert len(result) == 2
    assert dict(recorder.last.url.params) == {
        "select": "*",
        "tenant_id": f"eq.{TENANT}",
        "status": "in.(pending,failed)",
        "type": "eq.test_job",
        "order": "created_at.desc,id.desc",
        "limit": "20",
    }


INVALID_CALLS = [
    ("claim", ("",), {}, "worker_id"),
    ("claim", ("w",), {"limit": 0}, "limit"),
    ("claim", ("w",), {"limit": 10_000}, "limit"),
    ("claim", ("w",), {"types": "test_job"}, "types"),
    ("claim", ("w",), {"queues": ["Bad Queue"]}, "queues[0]"),
    ("claim", ("w",), {"lease_seconds": 0}, "lease_seconds"),
    ("get", ("not-a-uuid",), {}, "job_id"),
    ("list", (), {"limit": 0}, "limit"),
    ("list", (), {"status": "running"}, "status"),
    ("cancel", ("nope",), {}, "job_id"),
    ("retry", ("00000000-0000-0000-0000-000000000000",), {}, "job_id"),
    ("stats", ("x",), {}, "tenant_id"),
    ("prune", (-1,), {}, "older_than"),
    ("prune", (60,), {"statuses": ["pending"]}, "statuses[0]"),
    ("prune", (float("nan"),), {}, "older_than"),
    ("prune", ("60",), {}, "older_than"),
    ("claim", ("w\x00",), {}, "worker_id"),
    ("claim", ("w" * 256,), {}, "worker_id"),
    ("claim", (7,), {}, "worker_id"),
    ("claim", ("w",), {"limit": True}, "limit"),
    ("claim", ("w",), {"lease_seconds": 1.5}, "lease_seconds"),
    ("claim", ("w",), {"lease_seconds": 86_401}, "lease_seconds"),
    ("claim", ("w",), {"types": []}, "types"),
    ("claim", ("w",), {"types": ["Bad"]}, "types[0]"),
    ("get", (b"not-a-uuid",), {}, "job_id"),
    ("get", ("1521f0ae-4db7-4110-a993-c494535d9b00",), {"tenant_id": "x"}, "tenant_id"),
    ("delete", ("{1521f0ae-4db7-4110-a993-c494535d9b00}",), {}, "job_id"),
    ("list", (), {"status": []}, "status"),
    ("list", (), {"status": ["pending", 3]}, "status[1]"),
    ("list", (), {"status": ["pending", "running"]}, "status[1]"),
    ("list", (), {"limit": 1001}, "limit"),
    ("list", (), {"offset": -1}, "offset"),
    ("list", (), {"type": "Bad Type"}, "type"),
    ("list", (), {"queue": "Bad Queue"}, "queue"),
    ("list", (), {"tenant_id": "nope"}, "tenant_id"),
    ("cancel", ("1521f0ae-4db7-4110-a993-c494535d9b00",), {"reason": 3}, "reason"),
    ("retry", ("1521f0ae-4db7-4110-a993-c494535d9b00",), {"run_at": "now"}, "run_at"),
    ("complete_many", ([],), {}, "jobs"),
    ("heartbeat", ([],), {}, "jobs"),
    ("heartbeat", ("abc",), {}, "jobs"),
]


@pytest.mark.parametrize(("method", "args", "kwargs", "path"), INVALID_CALLS)
async def test_invalid_calls_send_nothing(
    jobs: Flavor, recorder: Recorder, method: Any, args: Any, kwargs: Any, path: Any
) -> None:
    with pytest.raises(ValidationError) as info:
        await getattr(jobs, method)(*args, **kwargs)
    assert info.value.path == path
    assert recorder.requests == []


async def test_lease_calls_need_a_claimed_job(jobs: Flavor, recorder: Recorder) -> None:
    pending = Job.model_validate(job_row())
    for method, args in [
        ("complete", (pending,)),
        ("fail", (pending, "x")),
        ("snooze", (pending, timedelta(seconds=1))),
        ("heartbeat", ([pending],)),
        ("complete_many", ([pending],)),
        ("complete", ("not a job",)),
    ]:
        with pytest.raises(NotClaimedError):
            await getattr(jobs, method)(*args)
    with pytest.raises(ValidationError) as info:
        await jobs.snooze(claimed(), datetime(2030, 1, 1))
    assert info.value.path == "until"
    job = claimed()
    with pytest.raises(ValidationError) as single:  # a lone Job where a list is expected
        await jobs.complete_many(job)
    assert single.value.path == "jobs"
    with pytest.raises(PayloadValidationError) as result:
        await jobs.complete(job, {"when": datetime.now(timezone.utc)})
    assert result.value.path == "result.when"
    with pytest.raises(PayloadValidationError) as many:
        await jobs.complete_many([job, (job, {1, 2})])
    assert many.value.path == "jobs[1].result"
    for bad in ({"retry": "yes"}, {"retry_in": -1}, {"retry_in": float("inf")}):
        with pytest.raises(ValidationError):
            await jobs.fail(job, "x", **bad)
    with pytest.raises(ValidationError) as err:
        await jobs.fail(job, 42)
    assert err.value.path == "error"
    assert recorder.requests == []


async def test_a_closed_client_sends_nothing_and_leaves_a_wrapped_client_open(
    jobs: Flavor, recorder: Recorder
) -> None:
    closing = jobs.close if jobs.name == "sync" else jobs.aclose
    await closing()
    await closing()  # twice is harmless
    assert jobs.client.closed
    assert "closed" in repr(jobs.client)
    with pytest.raises(ConfigurationError, match="closed"):
        await jobs.get(job_row()["id"])
    assert recorder.requests == []
    # The supabase client was passed in: it is the caller's and still works.
    http = jobs.client._client.options.httpx_client
    assert http is not None and not http.is_closed


async def test_delete(jobs: Flavor, recorder: Recorder) -> None:
    row = job_row()
    recorder.queue(httpx.Response(200, json=[row]), httpx.Response(200, json=[]))
    deleted = await jobs.delete(row["id"], tenant_id=TENANT)
    request = recorder.last
    assert request.method == "DELETE"
    assert request.url.path == "/rest/v1/jobs"
    assert dict(request.url.params) == {"id": f"eq.{row['id']}", "tenant_id": f"eq.{TENANT}"}
    assert request.headers["prefer"] == "return=representation"
    assert str(deleted.id) == row["id"]
    with pytest.raises(NotFoundError):
        await jobs.delete(row["id"])
