"""The test helpers of supabase_jobs.testing, against the local stack (and in a user suite)."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from importlib.metadata import entry_points
from typing import Any

import pytest

from supabase_jobs import (
    AsyncJobsClient,
    AsyncWorker,
    ConfigurationError,
    Fail,
    Job,
    JobsClient,
    JobStatus,
    JobTypeRegistry,
    PayloadValidationError,
    Snooze,
    UnknownJobTypeError,
    ValidationError,
    Worker,
)
from supabase_jobs._core import idempotent_job_id
from supabase_jobs.testing import (
    assert_enqueued,
    assert_enqueued_async,
    drain,
    drain_async,
    perform,
    perform_async,
    refute_enqueued,
    refute_enqueued_async,
)

pytestmark = pytest.mark.e2e
pytest_plugins = ["pytester"]

TENANT = "00000000-0000-4000-8000-0000000000f1"
OTHER = "00000000-0000-4000-8000-0000000000f2"


def test_assert_enqueued_finds_by_every_field(jobs_client: JobsClient):
    job = jobs_client.dispatch(
        TENANT, "document_export", {"month": "2026-01", "opts": {"fmt": "pdf", "n": 1}}, queue="q"
    )
    jobs_client.dispatch(OTHER, "document_export", {"month": "2026-02"})
    found = assert_enqueued(
        jobs_client,
        type="document_export",
        tenant_id=TENANT,
        queue="q",
        payload={"month": "2026-01", "opts": {"fmt": "pdf"}},
    )
    assert [j.id for j in found] == [job.id]
    assert len(assert_enqueued(jobs_client, type="document_export", count=2)) == 2
    assert len(assert_enqueued(jobs_client)) == 2


def test_assert_enqueued_failure_lists_what_was_enqueued(jobs_client: JobsClient):
    jobs_client.dispatch(TENANT, "ai_generation", {"prompt": "hi", "n": 1})
    jobs_client.dispatch(TENANT, "document_export", {"month": "2026-02"})
    with pytest.raises(AssertionError) as info:
        assert_enqueued(jobs_client, type="document_export", payload={"month": "2026-01"})
    message = str(info.value)
    assert message.startswith(
        "expected at least one pending job with type='document_export', "
        "payload ⊇={'month': '2026-01'}; found 0\n2 job(s) in the queue (newest first):"
    )
    assert "payload.month: expected '2026-01', got '2026-02'" in message
    assert "type: expected 'document_export', got 'ai_generation'" in message
    assert "payload.month: missing" in message


def test_assert_enqueued_on_an_empty_queue(jobs_client: JobsClient):
    with pytest.raises(AssertionError, match=r"found 0\nthe queue is empty$"):
        assert_enqueued(jobs_client, type="test_job")


def test_count_and_status(jobs_client: JobsClient):
    for n in range(3):
        jobs_client.dispatch(TENANT, "test_job", {"n": n})
    with pytest.raises(AssertionError, match="expected exactly 2 pending job"):
        assert_enqueued(jobs_client, type="test_job", count=2)
    (claimed,) = jobs_client.claim("w", limit=1)
    assert len(assert_enqueued(jobs_client, type="test_job", count=2)) == 2
    assert assert_enqueued(jobs_client, status="processing")[0].id == claimed.id
    assert len(assert_enqueued(jobs_client, status=None, count=3)) == 3
    refute_enqueued(jobs_client, status="completed")


def test_payload_subset_compares_types(jobs_client: JobsClient):
    jobs_client.dispatch(TENANT, "test_job", {"n": 1, "flag": True, "items": [1, 2]})
    assert_enqueued(jobs_client, payload={"items": [1, 2]})
    with pytest.raises(AssertionError, match=r"payload.n: expected True, got 1"):
        assert_enqueued(jobs_client, payload={"n": True})
    with pytest.raises(AssertionError, match=r"payload.items: expected \[1\], got \[1, 2\]"):
        assert_enqueued(jobs_client, payload={"items": [1]})


def test_refute_enqueued(jobs_client: JobsClient):
    refute_enqueued(jobs_client, type="test_job")
    job = jobs_client.dispatch(TENANT, "test_job", {"n": 1})
    refute_enqueued(jobs_client, type="test_job", tenant_id=OTHER)
    refute_enqueued(jobs_client, type="test_job", payload={"n": 2})
    with pytest.raises(AssertionError) as info:
        refute_enqueued(jobs_client, type="test_job")
    assert str(info.value).startswith("expected no pending job with type='test_job'; found 1:")
    assert str(job.id) in str(info.value)


def test_secrets_are_never_in_the_listing(jobs_client: JobsClient):
    # The listing shows payloads as stored, and stored payloads are scrubbed.
    jobs_client.dispatch(TENANT, "test_job", {"user": "a", "password": "hunter2"})
    with pytest.raises(AssertionError) as info:
        assert_enqueued(jobs_client, payload={"user": "b"})
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"tenant_id": "nope"}, "tenant_id"),
        ({"status": "done"}, "status"),
        ({"payload": ["a"]}, "payload"),
        ({"count": -1}, "count"),
        ({"queue": "Bad Queue"}, "queue"),
    ],
)
def test_bad_filters_are_refused(jobs_client: JobsClient, kwargs: dict[str, Any], path: str):
    with pytest.raises(ValidationError) as info:
        assert_enqueued(jobs_client, **kwargs)
    assert info.value.path.startswith(path)


async def test_async_twins(async_jobs_client: AsyncJobsClient):
    await async_jobs_client.dispatch(TENANT, "test_job", {"n": 1})
    (job,) = await assert_enqueued_async(async_jobs_client, payload={"n": 1})
    assert job.payload == {"n": 1}
    await refute_enqueued_async(async_jobs_client, payload={"n": 2})
    with pytest.raises(AssertionError, match=r"payload\.n: expected 3, got 1"):
        await assert_enqueued_async(async_jobs_client, payload={"n": 3})
    with pytest.raises(AssertionError):
        await refute_enqueued_async(async_jobs_client, type="test_job")
    with pytest.raises(ConfigurationError):
        assert_enqueued(async_jobs_client)  # type: ignore[arg-type]


# --- perform --------------------------------------------------------------------------------


def test_perform_runs_a_handler_with_a_real_job(jobs_client: JobsClient):
    seen: list[Job] = []

    def resize(job: Job) -> dict[str, Any]:
        seen.append(job)
        return {"width": job.payload["width"] // 2}

    result = perform(resize, {"width": 640, "api_key": "k"}, type="video_ingestion", queue="v")
    assert result == {"width": 320}
    (job,) = seen
    assert isinstance(job, Job)
    assert (job.type, job.queue, job.status, job.attempts) == (
        "video_ingestion",
        "v",
        JobStatus.PROCESSING,
        1,
    )
    assert job.payload == {"width": 640}  # scrubbed, as a worker would read it
    assert job.lease_id is not None and job.max_attempts == 5
    refute_enqueued(jobs_client, status=None)  # nothing was dispatched


def test_perform_by_type_name_and_options():
    handlers = {"send_email": lambda job: {"to": job.payload["to"], "try": job.attempts}}
    assert perform("send_email", {"to": "a@x"}, handlers=handlers, attempt=3) == {
        "to": "a@x",
        "try": 3,
    }
    with pytest.raises(ValidationError, match="handler_or_type"):
        perform("other_type", {}, handlers=handlers)
    job = perform(
        lambda job: job.model_dump(mode="json"), {}, idempotency_key="k", tenant_id=TENANT
    )
    assert job["id"] == idempotent_job_id(TENANT, "k")


def test_perform_validates_like_dispatch():
    with pytest.raises(ValidationError) as info:
        perform(lambda job: None, {"when": object()})
    assert info.value.path == "payload.when"
    with pytest.raises(ValidationError) as info:
        perform(lambda job: None, {}, attempt=6)
    assert info.value.path == "attempt"
    with pytest.raises(PayloadValidationError) as info:
        perform(lambda job: {"at": object()}, {})
    assert info.value.path == "result.at"
    assert perform(lambda job: {"token": "t", "ok": 1}, {}) == {"ok": 1}  # result scrubbed


def test_perform_with_a_client_uses_its_registry(jobs_client: JobsClient):
    registry = JobTypeRegistry([])
    jobs = JobsClient(jobs_client._client, registry=registry)
    with pytest.raises(UnknownJobTypeError):
        perform(lambda job: None, {}, jobs=jobs, type="test_job")
    registry.register("send_email", queue="mail")
    assert perform(lambda job: job.queue, {}, jobs=jobs, type="send_email") == "mail"


def test_perform_propagates_handler_errors():
    def broken(job: Job) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        perform(broken, {})


def test_perform_runs_async_handlers_outside_a_loop():
    async def handler(job: Job) -> int:
        return len(job.payload)

    assert perform(handler, {"a": 1, "b": 2}) == 2


async def test_perform_async():
    async def handler(job: Job) -> str:
        return job.type

    assert await perform_async(handler, {}, type="ai_generation") == "ai_generation"
    assert await perform_async(lambda job: 1, {}) == 1
    with pytest.raises(ConfigurationError, match="perform_async"):
        perform(handler, {})


def test_helpers_in_a_user_suite(pytester: pytest.Pytester):
    """A user's suite: an endpoint-like function enqueues, the helpers check it."""
    pytester.makepyfile(
        test_user=textwrap.dedent(
            """
            import pytest
            from supabase_jobs.testing import assert_enqueued, perform, refute_enqueued

            TENANT = "00000000-0000-4000-8000-0000000000f9"

            def request_export(jobs, month):
                return jobs.dispatch(TENANT, "document_export", {"month": month})

            def test_endpoint_enqueues(jobs_client):
                refute_enqueued(jobs_client, type="document_export")
                request_export(jobs_client, "2026-01")
                assert_enqueued(jobs_client, type="document_export", payload={"month": "2026-01"})

            def test_failure_is_readable(jobs_client):
                request_export(jobs_client, "2026-02")
                with pytest.raises(AssertionError, match="payload.month: expected"):
                    assert_enqueued(jobs_client, payload={"month": "2026-01"})

            def test_perform():
                assert perform(lambda job: job.payload["n"] + 1, {"n": 1}) == 2
            """
        )
    )
    registered = any(ep.name == "supabase_jobs" for ep in entry_points(group="pytest11"))
    enable = [] if registered else ["-p", "supabase_jobs.testing"]
    result = pytester.runpytest_subprocess(*enable, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_perform_passes_the_validated_payload_to_two_argument_handlers(jobs_client: JobsClient):
    from pydantic import BaseModel

    registry = JobTypeRegistry()

    @registry.register("send_email")
    class SendEmail(BaseModel):
        to: str
        retries: int = 2

    jobs = JobsClient(jobs_client._client, registry=registry)
    got: list[Any] = []

    def send(job: Job, email: SendEmail) -> str:
        got.append(email)
        return email.to

    assert perform(send, {"to": "a@x"}, jobs=jobs, type="send_email") == "a@x"
    assert got == [SendEmail(to="a@x", retries=2)]
    # Without a model the second argument is the payload dict.
    assert perform(lambda job, payload: payload["n"], {"n": 4}) == 4


#: What each drained job's handler does: n -> (action, expected status, attempts).
DRAIN_SCRIPT = {
    0: ("complete", "completed", 1),
    1: ("complete", "completed", 1),
    2: ("fail", "failed", 1),
    3: ("retry", "pending", 1),
    4: ("snooze", "pending", 0),
}
DRAIN_KINDS = {"completed": 2, "failed": 1, "retried": 1, "snoozed": 1}


def _drain_decide(job: Job) -> Any:
    action = DRAIN_SCRIPT[job.payload["n"]][0]
    if action == "fail":
        raise Fail("bad input", retry=False)
    if action == "retry":
        raise Fail("flaky", retry_in=3600)
    if action == "snooze":
        raise Snooze(3600)
    return {"n": job.payload["n"]}


def _drain_setup(jobs: JobsClient) -> tuple[list[Job], Job, Job]:
    due = jobs.dispatch_many(
        [{"tenant_id": TENANT, "type": "test_job", "payload": {"n": n}} for n in DRAIN_SCRIPT]
    )
    later = jobs.dispatch(TENANT, "test_job", {"n": 0}, run_at=timedelta(hours=1))
    elsewhere = jobs.dispatch(TENANT, "test_job", {"n": 0}, queue="other")
    return due, later, elsewhere


def _drain_check(jobs: JobsClient, drained: Any, due: list[Job], later: Job, other: Job) -> None:
    assert dict(drained.counts) == DRAIN_KINDS
    assert len(drained) == len(DRAIN_SCRIPT) and drained.stats.exit_code == 0
    assert {j.id for j in drained.jobs()} == {j.id for j in due}
    assert [j.payload["n"] for j in drained.jobs("failed")] == [2]
    for job in due:  # the outcomes were written
        _, status, attempts = DRAIN_SCRIPT[job.payload["n"]]
        stored = jobs.get(job.id)
        assert (stored.status, stored.attempts) == (status, attempts), job.payload
    # Not due yet, or not in the worker's queues: left alone.
    for job in (later, other):
        assert (jobs.get(job.id).status, jobs.get(job.id).attempts) == ("pending", 0)


def test_drain_runs_every_due_job_through_the_handlers(jobs_client: JobsClient):
    due, later, other = _drain_setup(jobs_client)
    worker = Worker(jobs_client, queues=["default"], poll_interval=0.2)
    worker.handler("test_job")(_drain_decide)
    hooks = len(worker.hooks.hooks)
    drained = drain(worker)
    _drain_check(jobs_client, drained, due, later, other)
    assert len(worker.hooks.hooks) == hooks  # its recording hook is gone
    # Nothing is due any more: a second drain runs nothing, and the worker is reusable.
    assert len(drain(worker)) == 0


async def test_drain_async_runs_async_handlers(
    jobs_client: JobsClient, async_jobs_client: AsyncJobsClient
):
    due, later, other = _drain_setup(jobs_client)
    worker = AsyncWorker(async_jobs_client, queues=["default"], poll_interval=0.2)

    @worker.handler("test_job")
    async def handle(job: Job) -> Any:
        return _drain_decide(job)

    drained = await drain_async(worker)
    _drain_check(jobs_client, drained, due, later, other)


def test_drain_refuses_the_wrong_worker_kind(jobs_client: JobsClient):
    with pytest.raises(ConfigurationError, match="drain_async"):
        drain(AsyncWorker(jobs_client))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="handler"):
        drain(Worker(jobs_client))
