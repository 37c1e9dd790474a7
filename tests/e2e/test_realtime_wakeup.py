"""The worker's wake-up trigger against the local stack: fires on dispatch, survives restarts."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import httpx
import psycopg
import pytest
from supabase import ClientOptions, create_client

from supabase_jobs import AsyncRealtimeWakeup, JobsClient, RealtimeWakeup
from supabase_jobs.local import LocalStack

pytestmark = [
    pytest.mark.e2e,
    # realtime-py 2.34 reads ConnectionClosed.code / .reason when a socket drops; under this
    # suite's warnings-as-errors that warning would kill its listener task.
    pytest.mark.filterwarnings("ignore:ConnectionClosed.* is deprecated:DeprecationWarning"),
]

TENANT = str(uuid.UUID(int=43))
WAIT = 30.0


def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.fixture
def jobs(stack: LocalStack) -> Iterator[JobsClient]:
    with httpx.Client(timeout=60) as http:
        options = ClientOptions(httpx_client=http, postgrest_client_retry=False)
        yield JobsClient(create_client(stack.url, stack.service_role_key, options))


def drain(q: queue.Queue[str]) -> list[str]:
    found = []
    while not q.empty():
        found.append(q.get_nowait())
    return found


def next_wake(q: queue.Queue[str]) -> str:
    return q.get(timeout=WAIT)


def test_sync_wakeup_fires_on_dispatch_and_recovers_after_a_gateway_restart(
    stack: LocalStack, jobs: JobsClient
) -> None:
    woken: queue.Queue[str] = queue.Queue()
    supabase = create_client(stack.url, stack.service_role_key)
    wakeup = RealtimeWakeup(supabase, ["wk-a", "wk-b"])
    wakeup.start(woken.put)
    try:
        until(lambda: wakeup.healthy, "subscribed")
        assert wakeup.subscriptions == 1
        until(lambda: woken.qsize() >= 2, "a subscription wakes every queue once")
        assert sorted(drain(woken)) == ["wk-a", "wk-b"]
        jobs.dispatch(TENANT, "test_job", queue="wk-a")
        assert next_wake(woken) == "wk-a"
        jobs.dispatch(TENANT, "test_job", queue="wk-other")  # not watched
        jobs.dispatch(TENANT, "test_job", queue="wk-a", run_at=timedelta(hours=1))  # not due
        jobs.dispatch(TENANT, "test_job", queue="wk-b")
        assert next_wake(woken) == "wk-b", "only due jobs of watched queues wake"

        stack.restart_gateway()
        until(lambda: wakeup.subscriptions >= 2 and wakeup.healthy, "resubscribed")
        drain(woken)
        jobs.dispatch(TENANT, "test_job", queue="wk-b")
        assert next_wake(woken) == "wk-b"
    finally:
        wakeup.stop()
    assert not wakeup.healthy


def test_a_raising_wake_callback_does_not_stop_delivery(
    stack: LocalStack, jobs: JobsClient
) -> None:
    calls: list[str] = []
    fired = threading.Event()

    def wake(name: str) -> None:
        calls.append(name)
        fired.set()
        raise RuntimeError("handler bug")

    wakeup = RealtimeWakeup(stack.url, ["wk-raise"], key=stack.service_role_key)
    wakeup.start(wake)
    try:
        until(lambda: wakeup.healthy and len(calls) == 1, "subscribed")
        for n in range(2, 4):
            jobs.dispatch(TENANT, "test_job", queue="wk-raise")
            until(lambda n=n: len(calls) == n, f"wake-up {n}")  # type: ignore[misc]
        assert wakeup.subscriptions == 1, "the socket was never dropped"
    finally:
        wakeup.stop()


def test_anon_key_never_becomes_healthy(stack: LocalStack) -> None:
    woken: list[str] = []
    wakeup = RealtimeWakeup(stack.url, ["wk-anon"], key=stack.anon_key, max_backoff=1)
    wakeup.start(woken.append)
    try:
        time.sleep(3)
        assert not wakeup.healthy and woken == [] and wakeup.subscriptions == 0
    finally:
        wakeup.stop()


async def test_async_wakeup_with_secret_key(stack: LocalStack) -> None:
    woken: asyncio.Queue[str] = asyncio.Queue()
    wakeup = AsyncRealtimeWakeup(stack.url, ["wk-async"], key=stack.secret_key)
    assert stack.secret_key not in repr(wakeup)
    await wakeup.start(woken.put_nowait)
    try:
        assert await asyncio.wait_for(woken.get(), WAIT) == "wk-async"
        assert wakeup.healthy
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            await asyncio.to_thread(
                conn.execute,
                "insert into public.jobs (tenant_id, type, queue)"
                " select %s, 'test_job', 'wk-async' from generate_series(1, 500)",
                [TENANT],
            )
        assert await asyncio.wait_for(woken.get(), WAIT) == "wk-async"
        await asyncio.sleep(0.5)
        assert woken.empty(), "500 jobs in one statement wake once"
    finally:
        await wakeup.stop()
    assert not wakeup.healthy


def test_an_expired_user_token_is_replaced_and_the_channel_resubscribed(
    stack: LocalStack, jobs: JobsClient
) -> None:
    with psycopg.connect(stack.database_url, autocommit=True) as admin:
        admin.execute(
            "create policy e2e_wk_token on realtime.messages for select to authenticated"
            " using (realtime.topic() = 'supabase_jobs:queue:wk-token')"
        )
        woken: queue.Queue[str] = queue.Queue()
        short = stack.mint_user_jwt(TENANT, expires_in=4)
        wakeup = RealtimeWakeup(stack.url, ["wk-token"], key=short, max_backoff=1)
        try:
            wakeup.start(woken.put)
            until(lambda: wakeup.healthy, "subscribed with the user token")
            until(lambda: not wakeup.healthy, "the server closed the channel at expiry")
            time.sleep(2)
            assert not wakeup.healthy and wakeup.subscriptions == 1, "expired: refused"
            wakeup.set_token(stack.mint_user_jwt(TENANT, expires_in=3600))
            until(lambda: wakeup.healthy and wakeup.subscriptions == 2, "resubscribed")
            drain(woken)
            jobs.dispatch(TENANT, "test_job", queue="wk-token")
            assert next_wake(woken) == "wk-token"
        finally:
            wakeup.stop()
            admin.execute("drop policy e2e_wk_token on realtime.messages")
