"""``supabase-jobs worker`` under real signals: graceful stop, hand-back, ignored SIGINT."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from supabase_jobs.local import LocalStack

from ._worker_procs import Workers, count, dispatch, query, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def workers(supabase_jobs_clean: LocalStack, tmp_path: Path) -> Iterator[Workers]:
    procs = Workers(supabase_jobs_clean, tmp_path, SJ_TEST_SHUTDOWN="2", SJ_TEST_LEASE="30")
    yield procs
    procs.close()


def attempts(stack: LocalStack) -> list[tuple[str, int]]:
    return sorted((r[0], r[1]) for r in query(stack, "select status, attempts from public.jobs"))


def test_sigterm_hands_back_running_jobs_without_spending_attempts(
    workers: Workers, supabase_jobs_clean: LocalStack
) -> None:
    stack = supabase_jobs_clean
    dispatch(stack, 4, '{"sleep": 120}')
    proc = workers.start("--concurrency", "4")
    wait_for(lambda: count(stack, "status = 'processing'") == 4, 60, "jobs never started")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, workers.output()
    # Handed back after shutdown_timeout: pending again, the claim's attempt given back.
    assert attempts(stack) == [("pending", 0)] * 4
    assert "released=4" in workers.output()


def test_a_handler_that_ignores_cancellation_cannot_hold_the_stop(
    workers: Workers, supabase_jobs_clean: LocalStack
) -> None:
    stack = supabase_jobs_clean
    dispatch(stack, 1, '{"sleep": 600, "ignore_cancel": true}')
    dispatch(stack, 2, "{}")
    proc = workers.start("--concurrency", "2")
    wait_for(lambda: count(stack, "status = 'processing'") == 1, 60, "the blocker never ran")
    wait_for(lambda: count(stack, "status = 'completed'") == 2, 60, "others never ran")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, workers.output()  # well before the 600 s sleep
    assert attempts(stack) == [("completed", 1), ("completed", 1), ("pending", 0)]


def test_a_second_signal_hands_back_at_once_and_exits_128_plus_n(
    workers: Workers, supabase_jobs_clean: LocalStack
) -> None:
    stack = supabase_jobs_clean
    dispatch(stack, 2, '{"sleep": 600, "ignore_cancel": true}')
    proc = workers.start("--concurrency", "2", SJ_TEST_SHUTDOWN="600")
    wait_for(lambda: count(stack, "status = 'processing'") == 2, 60, "jobs never started")
    proc.send_signal(signal.SIGINT)
    time.sleep(1.5)  # a second signal within 1 s counts as the same Ctrl-C
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130, workers.output()
    assert attempts(stack) == [("pending", 0)] * 2


def test_sigint_inherited_as_ignored_still_stops_the_worker(
    workers: Workers, supabase_jobs_clean: LocalStack
) -> None:
    stack = supabase_jobs_clean
    dispatch(stack, 1, '{"sleep": 120}')
    proc = workers.start(ignore_sigint=True)
    wait_for(lambda: count(stack, "status = 'processing'") == 1, 60, "job never started")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0, workers.output()
    assert attempts(stack) == [("pending", 0)]
    assert "inherited as ignored" in workers.output()
