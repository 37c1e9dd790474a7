"""The batched worker calls (heartbeat_many, release_many, fail_many): exact requests, answers,
and the ``supabase-jobs worker`` command's loading and logging (no network)."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import click
import httpx
import pytest

from supabase_jobs import BackendError, LeaseLostError, ValidationError, Worker
from supabase_jobs._errors import NotClaimedError
from supabase_jobs._models import Job
from supabase_jobs._worker._command import JsonFormatter, load_worker

from ._helpers import Flavor, Recorder, claimed_row, job_row
from .test_client_lifecycle import rpc


def claimed(**overrides: Any) -> Job:
    return Job.model_validate(claimed_row(**overrides))


async def test_heartbeat_many_sends_every_lease_and_returns_the_lost(
    jobs: Flavor, recorder: Recorder
) -> None:
    a, b = claimed(), claimed()
    answer = [{"job_id": str(a.id), "held": True}, {"job_id": str(b.id), "held": False}]
    recorder.queue(httpx.Response(200, json=answer))
    assert await jobs.heartbeat_many([a, b], lease_seconds=60) == [str(b.id)]
    assert rpc(recorder, "sj_heartbeat_many_v1") == {
        "p_job_ids": [str(a.id), str(b.id)],
        "p_lease_ids": [str(a.lease_id), str(b.lease_id)],
        "p_lease_seconds": 60,
    }


async def test_release_many_sends_snoozes_and_cancels(jobs: Flavor, recorder: Recorder) -> None:
    a, b = claimed(), claimed()
    recorder.queue(httpx.Response(200, json=[{"job_id": str(a.id), "applied": True},
                                             {"job_id": str(b.id), "applied": True}]))  # fmt: skip
    token = "sk_live_" + "Z9y8X7w6" * 4
    lost = await jobs.release_many(
        snoozes=[(a, timedelta(seconds=30))], cancels=[(b, f"gone {token}")]
    )
    assert lost == []
    body = rpc(recorder, "sj_release_many_v1")["p_items"]
    assert body[0] == {"id": str(a.id), "lease_id": str(a.lease_id), "action": "snooze",
                       "delay_seconds": 30.0}  # fmt: skip
    assert body[1]["action"] == "cancel" and token not in body[1]["reason"]


async def test_release_many_validates_before_sending(jobs: Flavor, recorder: Recorder) -> None:
    with pytest.raises(ValidationError, match=r"snoozes\[0\]\.delay"):
        await jobs.release_many(snoozes=[(claimed(), -1)])
    with pytest.raises(NotClaimedError):
        await jobs.release_many(cancels=[(claimed(lease_id=None), None)])
    with pytest.raises(ValidationError, match="items"):
        await jobs.release_many()
    assert recorder.requests == []


async def test_fail_many_sends_per_item_policies(jobs: Flavor, recorder: Recorder) -> None:
    a, b = claimed(), claimed()
    recorder.queue(httpx.Response(200, json=[job_row(id=str(a.id), status="pending")]))
    with pytest.raises(LeaseLostError) as info:
        await jobs.fail_many([(a, RuntimeError("x")), (b, "bad", False, 10)])
    items = rpc(recorder, "sj_fail_many_v1")["p_items"]
    assert items[0]["error"] == {"type": "RuntimeError", "message": "x"}
    assert (items[0]["retry"], items[0]["retry_in_seconds"]) == (True, None)
    assert (items[1]["retry"], items[1]["retry_in_seconds"]) == (False, 10.0)
    assert info.value.job_ids == (str(b.id),)


async def test_a_malformed_answer_is_a_backend_error(jobs: Flavor, recorder: Recorder) -> None:
    recorder.queue(httpx.Response(200, json=[{"job_id": "x"}]))
    with pytest.raises(BackendError):
        await jobs.heartbeat_many([claimed()])


def test_load_worker_refuses_what_is_not_a_worker() -> None:
    with pytest.raises(click.UsageError, match=r"PKG\.MODULE:ATTR"):
        load_worker("no_colon")
    with pytest.raises(click.UsageError, match="not a Worker"):
        load_worker("json:dumps")
    with pytest.raises(click.UsageError, match="no attribute"):
        load_worker("json:missing")


def test_json_log_lines_carry_the_structured_fields_only() -> None:
    record = logging.LogRecord("supabase_jobs.worker", logging.INFO, "", 0, "job %s", ("x",),
                               None)  # fmt: skip
    record.__dict__.update(job_id="x", outcome="completed", attempt=1, payload={"secret": 1})
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "job x" and line["outcome"] == "completed"
    assert "payload" not in line


def test_worker_options_are_checked_at_construction() -> None:
    from supabase_jobs import ConfigurationError

    for bad in ({"concurrency": 0}, {"lease_seconds": 1}, {"queues": "default"},
                {"poll_interval": -1}, {"types": ["Bad Name"]}):  # fmt: skip
        with pytest.raises(ConfigurationError):
            Worker(object(), **bad)
    w = Worker(object())
    with pytest.raises(ConfigurationError, match="plain def"):
        w.handler("test_job")(_async_handler)
    w.handler("test_job")(lambda job: None)
    with pytest.raises(ConfigurationError, match="already registered"):
        w.handler("test_job")(lambda job: None)


async def _async_handler(job: Job) -> None:
    return None
