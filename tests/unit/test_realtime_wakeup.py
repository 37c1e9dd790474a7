"""The wake-up component's input checks and pure parts (no network)."""

from __future__ import annotations

import pytest
from supabase import create_client

from supabase_jobs import AsyncRealtimeWakeup, RealtimeWakeup, ValidationError
from supabase_jobs._realtime import MAX_QUEUES, backoff_delay, queue_topic

KEY = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("queues", "path"),
    [
        (["ok", "Bad Name"], "queues[1]"),
        ("default", "queues"),
        ([], "queues"),
        ([f"q{i}" for i in range(MAX_QUEUES + 1)], "queues"),
    ],
)
def test_bad_queues_are_refused_before_any_connection(queues: object, path: str) -> None:
    with pytest.raises(ValidationError) as info:
        AsyncRealtimeWakeup("http://localhost:1", queues, key=KEY)  # type: ignore[arg-type]
    assert info.value.path == path


def test_a_url_needs_a_key_and_a_client_gives_url_and_key() -> None:
    with pytest.raises(ValidationError) as info:
        RealtimeWakeup("http://localhost:1", ["default"])
    assert info.value.path == "key"
    with pytest.raises(ValidationError):
        RealtimeWakeup(object(), ["default"])
    wakeup = AsyncRealtimeWakeup(create_client("http://localhost:1", KEY), ["a", "a", "b"])
    assert wakeup.queues == ("a", "b")
    assert wakeup._url == "ws://localhost:1/realtime/v1"
    assert KEY not in repr(wakeup) and KEY not in repr(RealtimeWakeup("http://h", ["a"], key=KEY))
    assert not wakeup.healthy


def test_backoff_grows_is_capped_and_jittered() -> None:
    assert [backoff_delay(n, rand=lambda: 1.0) for n in range(4)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff_delay(50, rand=lambda: 1.0) == 30.0
    assert backoff_delay(50, rand=lambda: 0.0) == 15.0
    assert backoff_delay(2, cap=1.0, rand=lambda: 0.5) == 0.75


def test_queue_topic_matches_the_trigger() -> None:
    assert queue_topic("emails") == "supabase_jobs:queue:emails"
