"""The worker's Realtime wake-up wiring and idle timing (pure core; no network)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from supabase import ClientOptions, create_client

from supabase_jobs import ConfigurationError, JobsClient, JobsConfig, RealtimeWakeup, Worker
from supabase_jobs._models import Job
from supabase_jobs._worker import _command
from supabase_jobs._worker._core import CoreOptions, WorkerCore
from supabase_jobs._worker._slots import IdlePolicy

from ._helpers import SERVICE_KEY, URL, claimed_row


def core(**idle: Any) -> WorkerCore:
    options = CoreOptions(concurrency=2, lease_seconds=30, idle=IdlePolicy(**idle))
    return WorkerCore(options, JobsConfig(), started=0.0)


def job() -> Job:
    return Job.model_validate(claimed_row(id=str(uuid.uuid4()), lease_id=str(uuid.uuid4())))


def empty_claim(c: WorkerCore, now: float, rand: float = 0.5, healthy: bool = True) -> None:
    size = c.claim_size(now)
    assert size
    c.claimed([], size, now, rand, timeouts={}, wakeup_healthy=healthy)


def test_a_healthy_source_goes_straight_to_the_safety_net_without_a_doubling_series() -> None:
    c = core(poll_interval=2.0, idle_poll_interval=90.0)
    for rand, low, high in ((0.0, 76.4, 76.6), (1.0, 89.9, 90.0)):
        empty_claim(c, 0.0, rand)
        assert low <= c.slots.next_claim_at <= high  # 85%..100% of the interval
        c.wake(0.0)
    # Socket down: the short poll with its backoff (here the first step).
    empty_claim(c, 0.0, 0.0, healthy=False)
    assert c.slots.next_claim_at <= 0.05


def test_a_wake_claims_after_a_small_jitter_and_folds_later_wakes_into_that_claim() -> None:
    c = core(idle_poll_interval=90.0, wake_jitter=0.025)
    empty_claim(c, 0.0)
    c.wake(10.0, 0.8)
    assert c.claim_size(10.0) == 0 and c.slots.next_claim_at == pytest.approx(10.02)
    c.wake(10.001, 1.0)  # a second message before the claim: still one claim, not later
    assert c.slots.next_claim_at == pytest.approx(10.02)
    assert c.claim_size(10.02) == 2
    assert c.claim_size(10.02) == 0  # one claim at a time


def test_a_wake_during_a_claim_makes_the_worker_claim_again_after_it() -> None:
    c = core(idle_poll_interval=90.0)
    size = c.claim_size(0.0)
    c.wake(0.01)  # the new job may have been committed after the claim read the queue
    c.claimed([], size, 0.02, 0.5, timeouts={}, wakeup_healthy=True)
    assert c.slots.next_claim_at < 0.1, "claims again at once, not in 90 s"
    empty_claim(c, 0.1)
    assert c.slots.next_claim_at > 70, "the next empty claim relaxes again"


def test_only_a_worker_with_a_free_slot_acts_on_a_wake() -> None:
    c = core()
    size = c.claim_size(0.0)
    c.claimed([job(), job()], size, 0.0, 0.5, timeouts={})
    c.wake(1.0)
    assert c.claim_size(1.0) == 0  # both slots busy: the wake waits for a slot


def test_the_next_due_job_shortens_the_idle_wait_but_never_lengthens_it() -> None:
    c = core(idle_poll_interval=60.0)
    empty_claim(c, 0.0)
    assert c.slots.idle_wait(0.0) > 50
    c.slots.due_in(0.0, 3.0)
    assert 3.0 < c.slots.next_claim_at < 3.1
    c.slots.due_in(0.0, 500.0)
    assert c.slots.next_claim_at < 3.1


def jobs_client() -> JobsClient:
    # No request is ever sent: the worker is built, not run.
    http = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(500)))
    options = ClientOptions(httpx_client=http, postgrest_client_retry=False)
    return JobsClient(create_client(URL, SERVICE_KEY, options))


def test_realtime_is_the_default_wakeup_and_can_be_turned_off() -> None:
    jobs = jobs_client()
    worker = Worker(jobs, queues=["emails"])
    assert isinstance(worker.wakeup, RealtimeWakeup) and worker.wakeup.queues == ("emails",)
    assert worker.wakeup is worker.wakeup  # built once
    assert Worker(jobs, queues=["emails"], realtime=False).wakeup is None

    class Mine:
        healthy = True

        def start(self, wake: Any) -> None: ...

        def stop(self) -> None: ...

    mine = Mine()
    assert Worker(jobs, wakeup=mine, realtime=False).wakeup is mine  # explicit wins
    with pytest.raises(ConfigurationError, match="realtime"):
        Worker(jobs, realtime="yes")


def test_a_client_without_a_supabase_client_polls_only() -> None:
    class Double:
        pass

    assert Worker(Double(), queues=["q"]).wakeup is None


def test_the_cli_no_realtime_flag_turns_the_subscription_off(monkeypatch: Any) -> None:
    worker = Worker(jobs_client(), queues=["q"])
    seen: list[Any] = []

    def run(drain: bool = False) -> Any:
        seen.append(worker.wakeup)
        return worker._last_stats

    monkeypatch.setattr(worker, "run", run)
    monkeypatch.setattr(_command, "load_worker", lambda spec: worker)
    monkeypatch.setattr(_command, "_configure_logging", lambda fmt, level: None)

    def leave(code: int, *, stuck: bool = False) -> None:
        # The real one may os._exit() when other tests left threads running.
        raise SystemExit(code)

    monkeypatch.setattr(_command, "_exit", leave)
    result = CliRunner().invoke(_command.worker_command, ["x:worker", "--no-realtime"])
    assert result.exit_code == 0, result.output
    assert seen == [None] and worker.realtime is False
