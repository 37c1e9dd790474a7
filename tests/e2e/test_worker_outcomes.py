"""The worker runtime through the local gateway: outcomes, lease loss, hooks, parity."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import uuid
from datetime import datetime, timezone
from typing import Any

import psycopg
import pytest
from pydantic import BaseModel

from supabase_jobs import (
    AsyncJobsClient,
    AsyncWorker,
    Cancel,
    Fail,
    Job,
    JobOutcome,
    JobsClient,
    Snooze,
    Worker,
    WorkerHooks,
    job_context,
)
from supabase_jobs.local import LocalStack

from ._worker_script import (
    EXPECTED_STATUS,
    FAULTS,
    SCRIPT,
    TENANT,
    FaultyJobs,
    async_handler,
    items,
    sync_handler,
    wait_until,
)

pytestmark = pytest.mark.e2e


def row(stack: LocalStack, job_id: Any) -> dict[str, Any]:
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        cur = conn.execute("select * from public.jobs where id = %s", [job_id])
        names = [d.name for d in cur.description or ()]
        found = cur.fetchone()
        assert found is not None
        return dict(zip(names, found, strict=True))


def worker(jobs: Any, **options: Any) -> Worker:
    options.setdefault("install_signal_handlers", False)
    options.setdefault("lease_seconds", 30)
    return Worker(jobs, **options)


def run_one(jobs: JobsClient, handler: Any, payload: dict[str, Any] | None = None,
            **options: Any) -> tuple[Job, Any]:  # fmt: skip
    job = jobs.dispatch(TENANT, "test_job", payload or {})
    w = worker(jobs, **options)
    w.handler("test_job")(handler)
    stats = w.run(drain=True)
    assert stats.exit_code == 0 and stats.unsettled == 0
    return job, stats


def seconds_until(value: datetime) -> float:
    return (value - datetime.now(timezone.utc)).total_seconds()


def test_returned_value_completes_and_is_stored(jobs_client: JobsClient, stack: LocalStack) -> None:
    job, stats = run_one(jobs_client, lambda job: {"tokens": 512})
    r = row(stack, job.id)
    assert (r["status"], r["result"], r["attempts"]) == ("completed", {"tokens": 512}, 1)
    assert stats.completed == 1


def test_snooze_spends_no_attempt(jobs_client: JobsClient, stack: LocalStack) -> None:
    def handler(job: Job) -> None:
        raise Snooze(30)

    job, stats = run_one(jobs_client, handler)
    r = row(stack, job.id)
    assert (r["status"], r["attempts"]) == ("pending", 0)
    assert 25 < seconds_until(r["run_at"]) <= 31
    assert stats.snoozed == 1


def test_cancel_is_final(jobs_client: JobsClient, stack: LocalStack) -> None:
    def handler(job: Job) -> None:
        raise Cancel("source deleted")

    job, stats = run_one(jobs_client, handler)
    r = row(stack, job.id)
    assert (r["status"], r["last_error"]) == ("cancelled", "source deleted")
    assert stats.cancelled == 1


def test_fail_without_retry_fails_now(jobs_client: JobsClient, stack: LocalStack) -> None:
    def handler(job: Job) -> None:
        raise Fail("bad input", retry=False)

    job, stats = run_one(jobs_client, handler)
    r = row(stack, job.id)
    assert (r["status"], r["last_error"], r["attempts"]) == ("failed", "bad input", 1)
    assert stats.failed == 1


def test_fail_with_retry_in_overrides_the_backoff(
    jobs_client: JobsClient, stack: LocalStack
) -> None:
    def handler(job: Job) -> None:
        raise Fail("try later", retry_in=90)

    job, stats = run_one(jobs_client, handler)
    r = row(stack, job.id)
    assert (r["status"], r["attempts"]) == ("pending", 1)
    assert 85 < seconds_until(r["run_at"]) <= 91
    assert stats.retried == 1


def test_an_exception_is_a_failed_attempt_with_backoff(
    jobs_client: JobsClient, stack: LocalStack
) -> None:
    def handler(job: Job) -> None:
        raise RuntimeError("boom token=abcdefghijklmnop1234567890")

    job, stats = run_one(jobs_client, handler)
    r = row(stack, job.id)
    assert (r["status"], r["attempts"]) == ("pending", 1)
    assert r["errors"][-1]["error"]["type"] == "RuntimeError"
    assert 2 < seconds_until(r["run_at"]) < 8  # the SQL backoff: 5 s x 0.75..1.25
    assert stats.retried == 1


def test_an_unstorable_result_fails_the_job_with_the_reason(
    jobs_client: JobsClient, stack: LocalStack
) -> None:
    job, stats = run_one(jobs_client, lambda job: {"x": "y" * (300 * 1024)})
    r = row(stack, job.id)
    assert (r["status"], r["result"]) == ("failed", None)
    assert "cannot be stored" in r["last_error"] and "yyyy" not in r["last_error"]
    assert r["errors"][-1]["error"]["type"] == "supabase_jobs.UnstorableResultError"
    assert stats.failed == 1


def test_a_sync_timeout_fails_the_attempt_and_tells_the_handler(
    jobs_client: JobsClient, stack: LocalStack
) -> None:
    seen: list[str | None] = []

    def handler(job: Job) -> None:
        job_context().wait(60)
        seen.append(job_context().cancel_reason)

    job, stats = run_one(jobs_client, handler, timeout=1)
    wait_until(lambda: bool(seen))
    r = row(stack, job.id)
    assert (r["status"], r["attempts"]) == ("pending", 1)
    assert r["errors"][-1]["error"]["type"] == "supabase_jobs.JobTimeoutError"
    assert seen == ["timeout"] and stats.retried == 1


async def test_an_async_timeout_cancels_the_task(
    async_jobs_client: AsyncJobsClient, stack: LocalStack
) -> None:
    cancelled = asyncio.Event()
    job = await async_jobs_client.dispatch(TENANT, "test_job", {})
    w = AsyncWorker(async_jobs_client, install_signal_handlers=False, lease_seconds=30)

    @w.handler("test_job", timeout=0.5)
    async def handler(job: Job) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    stats = await w.run(drain=True)
    r = row(stack, job.id)
    assert cancelled.is_set() and stats.retried == 1 and stats.stuck == 0
    assert r["errors"][-1]["error"]["type"] == "supabase_jobs.JobTimeoutError"


class Recorder(WorkerHooks):
    def __init__(self) -> None:
        self.events: list[tuple[str, str, Any]] = []

    def job_started(self, job: Job) -> None:
        self.events.append(("started", str(job.id), threading.get_ident()))
        TRACE.set(f"span-{job.id}")

    def job_finished(self, job: Job, outcome: JobOutcome) -> None:
        self.events.append(("finished", str(job.id), (outcome.kind, threading.get_ident())))

    def lease_lost(self, job: Job) -> None:
        self.events.append(("lease_lost", str(job.id), None))

    def worker_idle(self) -> None:
        self.events.append(("idle", "", None))


TRACE: contextvars.ContextVar[str] = contextvars.ContextVar("trace", default="")


def test_lease_lost_mid_handler_cancels_it_and_drops_its_outcome(
    jobs_client: JobsClient, stack: LocalStack
) -> None:
    hooks = Recorder()
    started = threading.Event()
    reasons: list[str | None] = []

    def handler(job: Job) -> dict[str, Any]:
        started.set()
        job_context().wait(60)
        reasons.append(job_context().cancel_reason)
        return {"late": True}

    job = jobs_client.dispatch(TENANT, "test_job", {})
    w = worker(jobs_client, lease_seconds=3, hooks=[hooks])
    w.handler("test_job")(handler)

    def cancel_from_outside() -> None:
        started.wait(60)
        jobs_client.cancel(job.id, "user cancelled")

    canceller = threading.Thread(target=cancel_from_outside)
    canceller.start()
    stats = w.run(drain=True)
    canceller.join()
    r = row(stack, job.id)
    assert (r["status"], r["result"], r["last_error"]) == ("cancelled", None, "user cancelled")
    assert reasons == ["lease_lost"] and stats.lease_lost == 1 and stats.completed == 0
    kinds = [e[0] for e in hooks.events if e[1] == str(job.id)]
    assert kinds == ["started", "lease_lost", "finished"]
    assert hooks.events[-1][2] is None or hooks.events[-1][0] == "idle"


def test_hooks_run_in_the_handler_thread_around_it(jobs_client: JobsClient) -> None:
    hooks = Recorder()
    seen: list[tuple[str, int]] = []

    def handler(job: Job) -> None:
        seen.append((TRACE.get(), threading.get_ident()))

    job, _ = run_one(jobs_client, handler, hooks=[hooks])
    started = [e for e in hooks.events if e[0] == "started"]
    finished = [e for e in hooks.events if e[0] == "finished"]
    assert seen == [(f"span-{job.id}", started[0][2])]  # context set by the hook is visible
    assert finished[0][2] == ("completed", started[0][2])
    assert ("idle", "", None) in hooks.events


class Resize(BaseModel):
    width: int


def test_a_second_parameter_receives_the_validated_payload(
    jobs_client: JobsClient, stack: LocalStack
) -> None:
    jobs_client.registry.register("image_resize", Resize)
    good = jobs_client.dispatch(TENANT, "image_resize", {"width": 640})
    w = worker(jobs_client)
    got: list[Any] = []

    @w.handler("image_resize")
    def handler(job: Job, payload: Resize) -> dict[str, int]:
        got.append(payload)
        return {"w": payload.width}

    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        bad_id = uuid.uuid4()
        conn.execute(
            "insert into public.jobs (id, tenant_id, type, payload) values (%s, %s, %s, %s)",
            [bad_id, TENANT, "image_resize", '{"width": "wide"}'],
        )
    stats = w.run(drain=True)
    assert got == [Resize(width=640)] and stats.completed == 1 and stats.failed == 1
    assert row(stack, good.id)["result"] == {"w": 640}
    bad = row(stack, bad_id)
    assert bad["status"] == "failed" and "invalid width" in bad["last_error"]
    assert "wide" not in bad["last_error"]


def final_states(stack: LocalStack) -> dict[int, tuple[str, int, str | None]]:
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        rows = conn.execute(
            "select (payload->>'n')::int, status, attempts, errors->-1->'error'->>'type'"
            " from public.jobs"
        ).fetchall()
    return {n: (status, attempts, kind) for n, status, attempts, kind in rows}


def test_sync_and_async_workers_behave_the_same_on_one_script(
    jobs_client: JobsClient, stack: LocalStack
) -> None:
    results = []
    for flavour in ("sync", "async"):
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            conn.execute("truncate public.jobs")
        jobs_client.dispatch_many(items())
        if flavour == "sync":
            faulty = FaultyJobs(jobs_client, FAULTS)
            w = worker(faulty, concurrency=4, timeout=1.0, lease_seconds=3)
            w.handler("test_job")(sync_handler)
            stats = w.run(drain=True)
        else:

            async def run_async() -> Any:
                async with await AsyncJobsClient.from_env(
                    env_file=None, url=stack.url, service_role_key=stack.service_role_key
                ) as client:
                    faulty = FaultyJobs(client, FAULTS)
                    w = AsyncWorker(faulty, concurrency=4, timeout=1.0, lease_seconds=3,
                                    install_signal_handlers=False)  # fmt: skip
                    w.handler("test_job")(async_handler)
                    return await w.run(drain=True), faulty

            stats, faulty = asyncio.run(run_async())
        assert all(faulty.calls.get(name, 0) >= count for name, count in FAULTS.items())
        names = ("completed", "retried", "failed", "snoozed", "cancelled", "lease_lost",
                 "unsettled")  # fmt: skip
        counts = {k: getattr(stats, k) for k in names}
        results.append((final_states(stack), counts, stats.exit_code))
    assert results[0] == results[1]
    states, counts, code = results[0]
    assert code == 0
    for n, do in SCRIPT.items():
        assert states[n][:2] == EXPECTED_STATUS[do], (n, do)
    assert counts == {"completed": 4, "retried": 4, "failed": 2, "snoozed": 1, "cancelled": 1,
                      "lease_lost": 0, "unsettled": 0}  # fmt: skip


class FakeWakeup:
    """A wake-up source the test fires by hand (the Realtime integration plugs in here)."""

    def __init__(self) -> None:
        self.wake: Any = None
        self.stopped = False

    def start(self, wake: Any) -> None:
        self.wake = wake

    def stop(self) -> None:
        self.stopped = True

    @property
    def healthy(self) -> bool:
        return True


def test_a_wakeup_ends_the_idle_wait_at_once(jobs_client: JobsClient, stack: LocalStack) -> None:
    source, hooks = FakeWakeup(), Recorder()
    # Without a wake-up the next poll would be 10 minutes away.
    w = worker(jobs_client, wakeup=source, hooks=[hooks], poll_interval=600,
               idle_poll_interval=600, queues=["default"])  # fmt: skip
    w.handler("test_job")(lambda job: {"woken": True})
    runner = threading.Thread(target=w.run)
    runner.start()
    try:
        wait_until(lambda: sum(e[0] == "idle" for e in hooks.events) >= 1)
        job = jobs_client.dispatch(TENANT, "test_job", {})
        source.wake("other_queue")  # a queue this worker does not serve: ignored...
        source.wake("default")  # ...this one claims at once
        wait_until(lambda: row(stack, job.id)["status"] == "completed")  # a hang guard
    finally:
        w.stop()
        runner.join(timeout=60)
    assert source.stopped and not runner.is_alive()
    assert w.stats().completed == 1 and w.stats().exit_code == 0
