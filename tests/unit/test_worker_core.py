"""The worker's sans-I/O core: slots, batching, backoff, outcomes, shutdown (fake clock)."""

from __future__ import annotations

import builtins
import logging
import sys
import uuid
from datetime import timedelta
from typing import Any

import pytest

from supabase_jobs import (
    Cancel,
    Fail,
    JobsConfig,
    LeaseLostError,
    ServiceUnavailableError,
    Snooze,
    TransportError,
    ValidationError,
)
from supabase_jobs._errors import SchemaNotInstalledError
from supabase_jobs._models import Job
from supabase_jobs._worker._backoff import Backoff, Lane, is_permanent, is_transient
from supabase_jobs._worker._core import CoreOptions, WorkerCore
from supabase_jobs._worker._outcomes import map_outcome
from supabase_jobs._worker._shutdown import Phase, Shutdown
from supabase_jobs._worker._slots import IdlePolicy

from ._helpers import claimed_row

CONFIG = JobsConfig()


def job(**overrides: Any) -> Job:
    return Job.model_validate(claimed_row(id=str(uuid.uuid4()), lease_id=str(uuid.uuid4()),
                                          **overrides))  # fmt: skip


def ids(jobs: Any) -> set[str]:
    return {str(j.id) for j in jobs}


def core(**options: Any) -> WorkerCore:
    options.setdefault("concurrency", 4)
    options.setdefault("lease_seconds", 30)
    return WorkerCore(CoreOptions(**options), CONFIG, started=0.0)


def start(c: WorkerCore, n: int, now: float = 0.0) -> list[Job]:
    size = c.claim_size(now)
    jobs = [job() for _ in range(min(n, size))]
    c.claimed(jobs, size, now, 0.5, timeouts={})
    return jobs


# -- slots and claims ----------------------------------------------------------------------


def test_claims_only_for_free_slots_and_one_claim_at_a_time() -> None:
    c = core(concurrency=4)
    assert c.claim_size(0.0) == 4
    assert c.claim_size(0.0) == 0  # a claim is in flight
    jobs = [job() for _ in range(4)]
    starts, idle, _ = c.claimed(jobs, 4, 0.0, 0.5, timeouts={})
    assert [r.job for r in starts] == jobs and not idle
    assert c.claim_size(1.0) == 0  # no free slot
    assert c.handler_done(str(jobs[0].id), 1.0, returned=None) is not None
    assert c.claim_size(1.0) == 1  # exactly the freed slot


def test_empty_claims_back_off_with_jitter_up_to_the_poll_interval() -> None:
    c = core(idle=IdlePolicy(poll_interval=2.0, first=0.05))
    now, delays = 0.0, []
    for _ in range(12):
        size = c.claim_size(now)
        assert size
        _, idle, _ = c.claimed([], size, now, 0.999, timeouts={})
        assert idle
        delays.append(c.slots.next_claim_at - now)
        now = c.slots.next_claim_at
    assert delays == sorted(delays)
    assert delays[0] < 0.06 and 1.9 < delays[-1] <= 2.0


def test_a_healthy_wakeup_source_lengthens_idle_polls_and_a_wake_ends_the_wait() -> None:
    c = core(idle=IdlePolicy(poll_interval=1.0, idle_poll_interval=30.0, first=64.0))
    size = c.claim_size(0.0)
    c.claimed([], size, 0.0, 0.999, timeouts={}, wakeup_healthy=True)
    assert c.slots.next_claim_at > 20
    assert c.claim_size(1.0) == 0
    c.wake(1.0)
    assert c.claim_size(1.0) == 4


def test_no_claims_while_outcomes_or_heartbeats_are_in_an_outage() -> None:
    c = core()
    (j,) = start(c, 1)
    c.handler_done(str(j.id), 0.1, returned={"ok": 1})
    assert c.next_flush(1.0) is not None
    c.flush_failed(1.0, TransportError("down"), 0.5)
    assert c.claim_size(5.0) == 0
    batch = c.next_flush(10.0)
    assert batch is not None and batch.items[0].job == j  # kept and re-sent
    c.flushed(10.0, set())
    assert c.claim_size(10.0) > 0


def test_an_outage_with_nothing_left_to_write_does_not_hold_claims_back_forever() -> None:
    # The outcome waiting for a re-send belongs to a lease a heartbeat then reports lost (the
    # job was rescued by another worker during the outage): the queue of outcomes empties
    # while the finish lane still counts as in an outage. Claims must go on, or a draining
    # worker never sees the empty claim it stops on (found by the outage chaos test).
    c = core(drain=True)
    (j,) = start(c, 1)
    c.handler_done(str(j.id), 0.1, returned={"ok": 1})
    assert c.next_flush(1.0) is not None
    c.flush_failed(1.0, TransportError("down"), 0.5)
    beat = c.next_heartbeat(20.0)
    assert beat is not None and ids(beat) == {str(j.id)}
    c.heartbeat_answered(20.0, {str(j.id)}, 0.5)
    assert len(c.finish) == 0 and c.finish_lane.in_outage
    size = c.claim_size(20.0)
    assert size > 0
    c.claimed([], size, 20.0, 0.5, timeouts={})
    assert c.shutdown.phase is Phase.STOPPED


def test_drain_stops_only_after_an_empty_claim_sent_after_the_last_write() -> None:
    c = core(drain=True)
    (j,) = start(c, 1)
    c.handler_done(str(j.id), 0.1, returned=None)
    size = c.claim_size(0.2)
    c.claimed([], size, 0.2, 0.5, timeouts={})  # the outcome is not written yet
    assert not c.stopped
    c.next_flush(1.0)
    c.flushed(1.0, set())
    size = c.claim_size(2.0)
    c.claimed([], size, 2.0, 0.5, timeouts={})
    assert c.stopped and c.stats(2.0).exit_code == 0


# -- outcomes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raised", "returned", "action", "kind"),
    [
        (None, {"tokens": 1}, "complete", "completed"),
        (Snooze(30), None, "snooze", "snoozed"),
        (None, Snooze(5), "snooze", "snoozed"),  # a returned outcome counts as raised
        (Cancel("gone"), None, "cancel", "cancelled"),
        (Fail("bad", retry=False), None, "fail", "failed"),
        (Fail("later", retry_in=10), None, "fail", "retried"),
        (RuntimeError("boom"), None, "fail", "retried"),
        (SystemExit(3), None, "fail", "retried"),
        (KeyboardInterrupt(), None, "fail", "retried"),
        (None, object(), "fail", "failed"),  # not JSON: unstorable
        (None, {"x": "y" * 300_000}, "fail", "failed"),  # too large
    ],
)
def test_outcome_mapping(raised: Any, returned: Any, action: str, kind: str) -> None:
    settlement = map_outcome(job(attempts=1, max_attempts=5), CONFIG, 0.5, returned=returned,
                             raised=raised)  # fmt: skip
    assert (settlement.action, settlement.outcome.kind) == (action, kind)


def test_outcome_details() -> None:
    j = job(attempts=1, max_attempts=5)
    assert map_outcome(j, CONFIG, 1, raised=Snooze(timedelta(seconds=30))).delay == 30
    later = map_outcome(j, CONFIG, 1, raised=Fail("x", retry_in=10))
    assert later.retry_in == 10 and later.outcome.retry_in == 10 and later.retry
    unstorable = map_outcome(j, CONFIG, 1, returned={"k": object()})
    assert unstorable.retry is False
    assert "UnstorableResultError" in (unstorable.outcome.error or "")
    assert "result" in (unstorable.outcome.error or "")
    last = map_outcome(job(attempts=5, max_attempts=5), CONFIG, 1, raised=ValueError("v"))
    assert last.outcome.kind == "failed"


def test_a_secret_in_an_error_is_scrubbed_and_no_result_value_is_shown() -> None:
    token = "sk_live_" + "a1B2c3D4" * 4
    s = map_outcome(job(), CONFIG, 1, raised=RuntimeError(f"key={token}"))
    assert token not in (s.outcome.error or "")
    s = map_outcome(job(), CONFIG, 1, returned={"v": object()})
    assert "object at" not in (s.outcome.error or "")


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception groups are Python 3.11+")
def test_an_exception_group_of_one_outcome_type_is_that_outcome() -> None:
    group_type: Any = vars(builtins)["BaseExceptionGroup"]  # 3.11+; mypy targets 3.10
    group = group_type("g", [Snooze(1), Snooze(2)])
    assert map_outcome(job(), CONFIG, 1, raised=group).action == "snooze"
    mixed = group_type("g", [Snooze(1), Cancel()])
    assert map_outcome(job(), CONFIG, 1, raised=mixed).action == "fail"


# -- finish lane ---------------------------------------------------------------------------


def test_outcomes_flush_by_age_or_count_one_call_kind_per_batch() -> None:
    c = core(concurrency=200, max_batch=3, flush_delay=0.01)
    jobs = start(c, 5)
    for j in jobs[:2]:
        c.handler_done(str(j.id), 0.0, returned=None)
    assert c.next_flush(0.001) is None  # young and below the count
    c.handler_done(str(jobs[2].id), 0.0, raised=Snooze(1))
    batch = c.next_flush(0.02)
    assert batch is not None and batch.call == "complete" and len(batch.items) == 2
    assert c.next_flush(0.02) is None  # one batch in flight at a time
    c.flushed(0.02, set())
    batch = c.next_flush(0.03)
    assert batch is not None and batch.call == "release"
    c.flushed(0.03, set())
    for j in jobs[3:]:
        c.handler_done(str(j.id), 0.04, returned=None)
    assert c.next_flush(0.04) is None
    more = start(c, 1, 0.05)
    c.handler_done(str(more[0].id), 0.05, returned=None)
    batch = c.next_flush(0.05)
    assert batch is not None and len(batch.items) == 3  # by count, at once


def test_a_refused_batch_is_split_and_a_refused_result_fails_the_job() -> None:
    c = core()
    jobs = start(c, 2)
    for j in jobs:
        c.handler_done(str(j.id), 0.0, returned={"ok": True})
    c.next_flush(1.0)
    c.flush_failed(1.0, ValidationError("p_items", "bad"), 0.5)
    first = c.next_flush(1.0)
    assert first is not None and len(first.items) == 1
    c.flush_failed(1.0, ValidationError("p_items", "bad"), 0.5)
    retry = c.next_flush(1.0)
    assert retry is not None and len(retry.items) == 1
    replaced = c.next_flush(1.0)
    assert replaced is None  # the one in flight first
    c.flushed(1.0, set())
    nxt = c.next_flush(1.1)
    assert nxt is not None and nxt.call == "fail" and nxt.items[0].retry is False


def test_lost_leases_on_write_are_counted_not_retried() -> None:
    c = core()
    jobs = start(c, 2)
    for j in jobs:
        c.handler_done(str(j.id), 0.0, returned=None)
    c.next_flush(1.0)
    acked, _ = c.flushed(1.0, {str(jobs[0].id)})
    assert sorted(a.outcome.kind for a in acked) == ["completed", "lease_lost"]
    assert c.stats(1.0).lease_lost == 1 and c.stats(1.0).completed == 1
    assert not c.slots.leases


# -- heartbeats and lease loss -------------------------------------------------------------


def test_one_heartbeat_covers_running_jobs_and_jobs_with_a_pending_outcome() -> None:
    c = core(lease_seconds=30)
    jobs = start(c, 3)
    c.handler_done(str(jobs[0].id), 1.0, returned=None)  # outcome pending, not written
    assert c.next_heartbeat(5.0) is None
    beat = c.next_heartbeat(10.0)
    assert beat is not None and ids(beat) == ids(jobs)
    c.heartbeat_answered(10.0, set(), 0.5)
    assert 18.9 < (c.heartbeat_due_at(10.0) or 0) < 21.1


def test_a_lost_lease_cancels_the_handler_and_drops_its_outcome() -> None:
    c = core()
    a, b = start(c, 2)
    c.handler_done(str(b.id), 1.0, returned=None)
    c.next_heartbeat(10.0)
    cancel, gone, _ = c.heartbeat_answered(10.0, {str(a.id), str(b.id)}, 0.5)
    assert [r.job for r in cancel] == [a] and ids(gone) == ids([a, b])
    assert cancel[0].cancel_reason == "lease_lost"
    assert c.next_flush(20.0) is None  # b's completion was dropped
    outcome = c.handler_done(str(a.id), 11.0, returned={"late": True})
    assert outcome is not None and outcome.kind == "lease_lost"
    assert c.next_flush(30.0) is None and c.stats(30.0).lease_lost == 2


def test_a_sync_handler_past_its_timeout_fails_now_and_keeps_its_slot() -> None:
    c = core(concurrency=1)
    size = c.claim_size(0.0)
    (j,) = [job()]
    c.claimed([j], size, 0.0, 0.5, timeouts={j.type: 5.0})
    assert c.overdue(4.9) == []
    (late,) = c.overdue(5.0)
    assert late.cancel_reason == "timeout"
    batch = c.next_flush(5.1)
    assert batch is not None and batch.call == "fail"
    assert "JobTimeoutError" in (batch.items[0].outcome.error or "")
    c.flushed(5.1, set())
    assert c.stats(5.1).stuck == 1 and c.claim_size(6.0) == 0
    outcome = c.handler_done(str(j.id), 60.0, returned={"x": 1})  # returns at last: dropped
    assert outcome is not None and outcome.kind == "retried"
    assert c.next_flush(61.0) is None and c.claim_size(61.0) == 1


# -- backoff -------------------------------------------------------------------------------


def test_backoff_is_capped_exponential_with_jitter() -> None:
    b = Backoff(base=0.1, cap=5.0)
    assert b.delay(1, 0.0) == pytest.approx(0.05) and b.delay(1, 1.0) == pytest.approx(0.1)
    assert b.delay(4, 1.0) == pytest.approx(0.8)
    assert b.delay(100, 1.0) == pytest.approx(5.0) and b.delay(100, 0.0) == pytest.approx(2.5)


def test_an_outage_logs_one_warning_and_one_recovery() -> None:
    lane = Lane("claim", Backoff())
    logs = [lane.failed(t, TransportError("x"), 0.5) for t in range(5)]
    assert [log.level for log in logs] == ["warning"] + ["debug"] * 4
    recovered = lane.succeeded(10.0)
    assert recovered is not None and recovered.level == "info" and "10.0 s" in recovered.message
    assert lane.succeeded(11.0) is None


def test_error_classes() -> None:
    transient: list[BaseException] = [TransportError("x"), ServiceUnavailableError("x"), OSError()]
    permanent: list[BaseException] = [ValidationError("a", "b"), SchemaNotInstalledError("x")]
    for error in transient:
        assert is_transient(error) and not is_permanent(error)
    for error in [*permanent, KeyError()]:
        assert is_permanent(error) and not is_transient(error)
    assert not is_permanent(LeaseLostError(["a"]))


def test_a_permanent_error_on_the_first_claim_is_fatal_later_it_is_retried() -> None:
    c = core()
    c.claim_size(0.0)
    c.claim_failed(0.0, SchemaNotInstalledError("no function"), 0.5)
    c.tick(0.0)
    assert c.stopped and c.stats(0.0).exit_code == 1
    c = core()
    start(c, 0)
    c.claim_size(10.0)
    c.claim_failed(10.0, SchemaNotInstalledError("cache reload"), 0.5)
    assert not c.stopped


# -- shutdown ------------------------------------------------------------------------------


def test_first_signal_drains_then_the_deadline_hands_running_jobs_back() -> None:
    c = core(shutdown_timeout=30.0)
    a, b = start(c, 2)
    assert c.stop(1.0, signum=15) == []
    assert c.shutdown.phase is Phase.DRAINING and c.claim_size(1.0) == 0
    c.handler_done(str(a.id), 2.0, returned=None)
    assert c.tick(30.9) == []
    (handed,) = c.tick(31.0)
    assert handed.job == b and handed.cancel_reason == "shutdown"
    batch = c.next_flush(31.0)
    assert batch is not None
    assert [(s.job, s.outcome.kind) for s in batch.items] == [(a, "completed")]
    c.flushed(31.0, set())
    release = c.next_flush(31.0)
    assert release is not None and release.items[0].action == "snooze"
    assert release.items[0].delay == 0 and release.items[0].outcome.kind == "released"
    c.flushed(31.1, set())
    c.tick(31.1)
    assert c.stopped and c.stats(31.1).exit_code == 0


def test_a_second_signal_a_second_later_hands_everything_back_at_once() -> None:
    c = core()
    (j,) = start(c, 1)
    c.stop(0.0, signum=2)
    assert c.stop(0.5, signum=2) == []  # the same Ctrl-C delivered twice
    (handed,) = c.stop(1.5, signum=2)
    assert handed.job == j
    c.next_flush(1.5)
    c.flushed(1.5, set())
    c.tick(1.5)
    assert c.stopped and c.stats(1.5).exit_code == 130


def test_rows_claimed_after_shutdown_began_go_straight_back() -> None:
    c = core()
    size = c.claim_size(0.0)
    c.stop(0.1)
    j = job()
    starts, _, _ = c.claimed([j], size, 0.2, 0.5, timeouts={})
    assert starts == []
    batch = c.next_flush(0.2)
    assert batch is not None and batch.items[0].outcome.kind == "released"


def test_a_claim_in_flight_at_a_stop_is_waited_for_and_its_rows_handed_back() -> None:
    c = core()
    size = c.claim_size(0.0)
    c.stop(0.1)
    c.tick(0.2)
    assert not c.stopped  # its rows would otherwise wait out their leases
    c.claimed([job()], size, 0.3, 0.5, timeouts={})
    c.tick(0.3)
    assert not c.stopped
    c.next_flush(0.3)
    c.flushed(0.4, set())
    c.tick(0.4)
    assert c.stopped and c.stats(0.4).released == 1 and c.stats(0.4).exit_code == 0


def test_unwritten_outcomes_at_the_flush_deadline_exit_3() -> None:
    c = core(flush_timeout=10.0)
    (j,) = start(c, 1)
    c.handler_done(str(j.id), 0.0, returned=None)
    c.stop(1.0, hard=True)
    c.next_flush(1.0)
    c.flush_failed(1.0, TransportError("down"), 0.5)
    c.tick(5.0)
    assert not c.stopped
    c.tick(11.0)
    assert c.stopped and c.stats(11.0).exit_code == 3


def test_shutdown_machine_ignores_requests_once_stopped() -> None:
    s = Shutdown(30.0, 10.0)
    assert s.request(0.0)
    assert s.phase is Phase.DRAINING
    assert s.tick(1.0, running=0, unsettled=0)
    assert s.phase.value == "stopped"
    assert not s.request(2.0, hard=True)


def test_hooks_that_raise_are_isolated(caplog: pytest.LogCaptureFixture) -> None:
    from supabase_jobs import WorkerHooks
    from supabase_jobs._worker._hooks import HookSet

    calls = []

    class Broken(WorkerHooks):
        def worker_idle(self) -> None:
            raise RuntimeError("secret-value-xyz")

    class Counting(WorkerHooks):
        def worker_idle(self) -> None:
            calls.append(1)

    with caplog.at_level(logging.ERROR):
        HookSet([Broken(), Counting()]).worker_idle()
    assert calls == [1]
    assert "RuntimeError" in caplog.text and "secret-value-xyz" not in caplog.text
