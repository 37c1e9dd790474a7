"""Workers woken over Realtime through the local gateway: the claim follows the message.

Every worker here has poll intervals of 60 s (or more), so a job started within seconds was
claimed because of a message (or of its due time), never because of the clock. Claims are
counted with a wrapper on the jobs client.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from supabase import ClientOptions, create_client

from supabase_jobs import AsyncJobsClient, AsyncWorker, JobsClient, RealtimeWakeup, Worker
from supabase_jobs.local import LocalStack

pytestmark = [
    pytest.mark.e2e,
    # realtime-py 2.34 reads ConnectionClosed.code / .reason when a socket drops.
    pytest.mark.filterwarnings("ignore:ConnectionClosed.* is deprecated:DeprecationWarning"),
]

TENANT = str(uuid.UUID(int=44))
WAIT = 30.0
LONG = 60.0


class Counting:
    """The jobs client with its claims (and empty claims) counted."""

    def __init__(self, jobs: Any) -> None:
        self._jobs = jobs
        self.claims = 0
        self.empty = 0
        self.next_due_calls = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._jobs, name)

    def claim(self, *args: Any, **kwargs: Any) -> Any:
        found = self._jobs.claim(*args, **kwargs)
        with self._lock:
            self.claims += 1
            self.empty += not found
        return found

    def next_due(self, **kwargs: Any) -> Any:
        with self._lock:
            self.next_due_calls += 1
        return self._jobs.next_due(**kwargs)


def until(check: Any, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


@pytest.fixture
def jobs(stack: LocalStack) -> Iterator[JobsClient]:
    with httpx.Client(timeout=60) as http:
        options = ClientOptions(httpx_client=http, postgrest_client_retry=False)
        yield JobsClient(create_client(stack.url, stack.service_role_key, options))


def queue_name() -> str:
    return f"rt-{uuid.uuid4().hex[:10]}"


class Running:
    """A sync worker on a thread; ``started`` records when each handler began."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.started: dict[str, float] = {}
        worker.handler("test_job")(self._handle)
        self.thread = threading.Thread(target=worker.run, daemon=True)

    def _handle(self, job: Any) -> None:
        self.started[str(job.id)] = time.monotonic()

    def __enter__(self) -> Running:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.worker.stop()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive()


def idle(counting: Counting) -> None:
    """Wait until the worker made its subscription's claim and then nothing for a while."""
    until(lambda: counting.claims >= 1, "first claim")
    seen = -1
    while seen != counting.claims:
        seen = counting.claims
        time.sleep(1.0)


def new_worker(jobs: Any, queue: str, **options: Any) -> Worker:
    options.setdefault("poll_interval", LONG)
    options.setdefault("idle_poll_interval", LONG)
    return Worker(jobs, queues=[queue], install_signal_handlers=False, **options)


def test_an_idle_worker_claims_on_the_message_not_the_clock(jobs: JobsClient) -> None:
    queue, counting = queue_name(), Counting(jobs)
    worker = new_worker(counting, queue)
    assert isinstance(worker.wakeup, RealtimeWakeup)  # the default: realtime=True
    with Running(worker) as run:
        until(lambda: worker.wakeup.healthy, "subscribed")
        idle(counting)
        before = counting.claims
        for _ in range(3):
            sent = time.monotonic()
            key = str(jobs.dispatch(TENANT, "test_job", queue=queue).id)
            until(lambda key=key: key in run.started, "started on the message")
            assert run.started[key] - sent < LONG / 4, "not a poll: those are 60 s apart"
        time.sleep(1.0)
    # One claim per message (plus at most one re-claim each for a wake during a claim).
    assert 3 <= counting.claims - before <= 6


def test_a_job_scheduled_soon_wakes_an_idle_worker_which_waits_for_its_due_time(
    jobs: JobsClient,
) -> None:
    queue, counting = queue_name(), Counting(jobs)
    worker = new_worker(counting, queue)
    with Running(worker) as run:
        until(lambda: worker.wakeup.healthy, "subscribed")
        idle(counting)
        sent = time.monotonic()
        job = jobs.dispatch(TENANT, "test_job", queue=queue, run_at=timedelta(seconds=3))
        # 0011: a message for a job due within 5 minutes; the claim finds nothing yet, the
        # worker asks sj_next_due_v1 and claims again at the due time.
        until(lambda: str(job.id) in run.started, "started at its run_at", timeout=LONG / 2)
        waited = run.started[str(job.id)] - sent
    assert 2.0 <= waited < 15.0, waited
    assert counting.next_due_calls >= 1


def test_a_scheduled_job_starts_on_time_without_any_message(jobs: JobsClient) -> None:
    queue, counting = queue_name(), Counting(jobs)
    job = jobs.dispatch(TENANT, "test_job", queue=queue, run_at=timedelta(seconds=3))
    sent = time.monotonic()
    worker = new_worker(counting, queue, realtime=False)  # polls every 60 s, no messages
    with Running(worker) as run:
        until(lambda: str(job.id) in run.started, "started at its run_at", timeout=LONG / 2)
        waited = run.started[str(job.id)] - sent
    assert 2.0 <= waited < 15.0, waited
    # The short backoff series (0.05 s doubling) until the wait passes a second, then one
    # next_due call and one claim at the due time: no claim every few hundred ms meanwhile.
    assert counting.claims <= 10, counting.claims
    assert counting.next_due_calls >= 1


def test_without_the_socket_the_worker_polls_at_poll_interval(
    stack: LocalStack, jobs: JobsClient
) -> None:
    # A Realtime endpoint that is down: a port nobody listens on.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    queue, counting = queue_name(), Counting(jobs)
    down = RealtimeWakeup(dead, [queue], key=stack.service_role_key, max_backoff=1.0)
    worker = new_worker(counting, queue, wakeup=down, poll_interval=1.0, idle_poll_interval=LONG)
    with Running(worker) as run:
        time.sleep(2.0)
        assert not down.healthy
        sent = time.monotonic()
        job = jobs.dispatch(TENANT, "test_job", queue=queue)
        until(lambda: str(job.id) in run.started, "found by the short poll")
        assert run.started[str(job.id)] - sent < LONG / 4
    assert counting.claims >= 3, "polling at poll_interval while the socket is down"


def test_realtime_false_opens_no_socket(jobs: JobsClient) -> None:
    queue, counting = queue_name(), Counting(jobs)
    worker = new_worker(counting, queue, realtime=False, poll_interval=0.5)
    assert worker.wakeup is None
    before = {t.name for t in threading.enumerate()}
    with Running(worker) as run:
        job = jobs.dispatch(TENANT, "test_job", queue=queue)
        until(lambda: str(job.id) in run.started, "found by polling")
        names = {t.name for t in threading.enumerate()} - before
    assert "supabase-jobs-realtime" not in names


def test_an_unrestricted_worker_hears_default_and_polls_the_rest(jobs: JobsClient) -> None:
    worker = Worker(jobs, install_signal_handlers=False)
    assert isinstance(worker.wakeup, RealtimeWakeup)
    assert list(worker.wakeup.queues) == ["default"]
    assert not worker._wakeup_healthy(), "other queues: the short poll stays the safety net"
    worker.queues = ["a", "b"]  # as the CLI's --queues does, after construction
    assert list(worker.wakeup.queues) == ["a", "b"]


@pytest.mark.slow
def test_five_idle_workers_and_one_job_make_a_bounded_number_of_claims(
    jobs: JobsClient,
) -> None:
    queue = queue_name()
    counters = [Counting(jobs) for _ in range(5)]
    workers = [new_worker(c, queue, concurrency=2) for c in counters]
    runs = [Running(w) for w in workers]
    for run in runs:
        run.__enter__()
    try:
        until(lambda: all(w.wakeup.healthy for w in workers), "all subscribed")
        for counting in counters:
            idle(counting)
        before = sum(c.claims for c in counters)
        job = jobs.dispatch(TENANT, "test_job", queue=queue)
        until(lambda: any(str(job.id) in r.started for r in runs), "started")
        time.sleep(2.0)
        after = sum(c.claims for c in counters)
    finally:
        for run in runs:
            run.__exit__()
    assert sum(str(job.id) in r.started for r in runs) == 1
    # Each worker acts on the message once: 1 claim wins, at most 4 come back empty,
    # plus at most one re-claim per worker whose claim was in flight when a wake-up came.
    assert after - before <= 2 * len(workers), after - before


async def test_async_worker_claims_on_the_message(stack: LocalStack) -> None:
    queue = queue_name()
    async with httpx.AsyncClient(timeout=60) as http:
        from supabase import AsyncClientOptions, acreate_client

        options = AsyncClientOptions(httpx_client=http, postgrest_client_retry=False)
        client = await acreate_client(stack.url, stack.service_role_key, options)
        jobs = AsyncJobsClient(client)
        started = asyncio.Event()
        worker = AsyncWorker(
            jobs, queues=[queue], poll_interval=LONG, idle_poll_interval=LONG,
            install_signal_handlers=False,
        )  # fmt: skip

        @worker.handler("test_job")
        async def handle(job: Any) -> None:
            started.set()

        task = asyncio.create_task(worker.run())
        try:
            deadline = time.monotonic() + WAIT
            while not worker.wakeup.healthy:
                assert time.monotonic() < deadline, "subscribed"
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)
            sent = time.monotonic()
            await jobs.dispatch(TENANT, "test_job", queue=queue)
            await asyncio.wait_for(started.wait(), WAIT)
            assert time.monotonic() - sent < LONG / 4
        finally:
            worker.stop()
            await asyncio.wait_for(task, 60)
