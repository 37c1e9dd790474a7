"""Every numeric argument of every public client method is range-checked before sending.

The parameters are found by introspection (any ``int``, ``float`` or ``timedelta`` in a
public method's signature), so a new numeric argument without a case here fails
:func:`test_every_numeric_parameter_has_cases`.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from supabase_jobs import _constants as C
from supabase_jobs._async._client import AsyncJobsClient
from supabase_jobs._errors import ConfigurationError, ValidationError
from supabase_jobs._models import Job
from supabase_jobs._registry import JobTypeRegistry
from supabase_jobs._sync._client import JobsClient

from ._helpers import TENANT, Flavor, Recorder, claimed_row

_NUMERIC = re.compile(r"\b(int|float|timedelta)\b")
_NAN, _INF = math.nan, math.inf


def _ints(low: int, high: int) -> list[Any]:
    return [low - 1, high + 1, 10**30, -(10**30), True, 1.5, "1", _NAN]


def _seconds(low: float, high: float) -> list[Any]:
    return [
        low - 1,
        high + 1,
        10**30,
        _NAN,
        _INF,
        -_INF,
        True,
        "1",
        timedelta(seconds=low - 1),
        timedelta.max,
    ]


_TIMES = [timedelta(seconds=-1), timedelta.max, datetime(2030, 1, 1), "tomorrow", 5, _NAN]


def _claimed() -> Job:
    return Job.model_validate(claimed_row())


def _call(method: str, **bad: Any) -> Callable[[Flavor], Any]:
    """The call of ``method`` with valid arguments and ``bad`` overriding one of them."""
    calls: dict[str, Callable[[Flavor], Any]] = {
        "dispatch": lambda j: j.dispatch(TENANT, "test_job", {}, **bad),
        "dispatch_many": lambda j: j.dispatch_many(
            [
                {"tenant_id": TENANT, "type": "test_job"},
                {"tenant_id": TENANT, "type": "test_job", **bad},
            ]
        ),
        "list": lambda j: j.list(**bad),
        "list_page": lambda j: j.list_page(**bad),
        "claim": lambda j: j.claim("w1", **bad),
        "heartbeat": lambda j: j.heartbeat(_claimed(), **bad),
        "fail": lambda j: j.fail(_claimed(), "boom", **bad),
        "snooze": lambda j: j.snooze(_claimed(), **bad),
        "retry": lambda j: j.retry(TENANT, **bad),
        "prune": lambda j: j.prune(**{"older_than": 60, **bad}),
        "heartbeat_many": lambda j: j.heartbeat_many([_claimed()], **bad),
        # The batched calls take their numbers inside items: the bad value goes there.
        "release_many": lambda j: j.release_many(snoozes=[(_claimed(), bad["snoozes"])]),
        "fail_many": lambda j: j.fail_many([(_claimed(), "boom", True, bad["failures"])]),
        "wait": lambda j: j.wait(TENANT, **bad),
        "set_queue_limits": lambda j: j.set_queue_limits("default", **bad),
    }
    return calls[method]


#: (method, parameter) -> values that must be refused.
CASES: dict[tuple[str, str], list[Any]] = {
    ("dispatch", "priority"): _ints(C.MIN_PRIORITY, C.MAX_PRIORITY),
    ("dispatch", "max_attempts"): _ints(1, C.MAX_MAX_ATTEMPTS),
    ("dispatch", "run_at"): _TIMES,
    ("list", "limit"): _ints(1, C.MAX_LIST_LIMIT),
    ("list", "offset"): _ints(0, C.MAX_LIST_OFFSET),
    ("list_page", "limit"): _ints(1, C.MAX_LIST_LIMIT),
    ("claim", "limit"): _ints(1, C.MAX_CLAIM_LIMIT),
    ("claim", "lease_seconds"): [*_seconds(1, C.MAX_LEASE_SECONDS), 1.5],
    ("heartbeat", "lease_seconds"): [*_seconds(1, C.MAX_LEASE_SECONDS), 1.5],
    ("fail", "retry_in"): _seconds(0, C.MAX_RETRY_IN_SECONDS),
    ("snooze", "until"): _TIMES,
    ("retry", "run_at"): _TIMES,
    ("prune", "older_than"): _seconds(0, C.MAX_PRUNE_AGE_SECONDS),
    ("prune", "batch_size"): _ints(1, C.MAX_PRUNE_BATCH),
    ("heartbeat_many", "lease_seconds"): [*_seconds(1, C.MAX_LEASE_SECONDS), 1.5],
    ("release_many", "snoozes"): _seconds(0, C.MAX_RETRY_IN_SECONDS),
    ("fail_many", "failures"): _seconds(0, C.MAX_RETRY_IN_SECONDS),
    ("prune", "max_batches"): _ints(1, C.MAX_PRUNE_BATCHES),
    ("wait", "timeout"): _seconds(C.MIN_POLL_INTERVAL, C.MAX_WAIT_TIMEOUT),
    ("wait", "poll_interval"): _seconds(C.MIN_POLL_INTERVAL, C.MAX_WAIT_TIMEOUT),
    ("wait", "max_poll_interval"): _seconds(C.MIN_POLL_INTERVAL, C.MAX_WAIT_TIMEOUT),
    ("set_queue_limits", "max_running"): _ints(0, C.MAX_QUEUE_CAP),
    ("set_queue_limits", "max_running_per_tenant"): _ints(0, C.MAX_QUEUE_CAP),
}
#: Where the batched calls report a bad number inside their first item.
ITEM_PATHS = {
    ("release_many", "snoozes"): "snoozes[0].delay",
    ("fail_many", "failures"): "failures[0].retry_in",
}
#: dispatch_many items carry dispatch's numeric options (paths ``jobs[1].<name>``).
BATCH_CASES = {name: values for (method, name), values in CASES.items() if method == "dispatch"}


def numeric_parameters(cls: type) -> set[tuple[str, str]]:
    found = set()
    for name, method in inspect.getmembers(cls, callable):
        if name.startswith("_") or name == "from_env":
            continue
        for param in inspect.signature(method).parameters.values():
            if _NUMERIC.search(str(param.annotation)):
                found.add((name, param.name))
    return found


@pytest.mark.parametrize("cls", [JobsClient, AsyncJobsClient])
def test_every_numeric_parameter_has_cases(cls: type) -> None:
    assert numeric_parameters(cls) == set(CASES)


@pytest.mark.parametrize(
    ("method", "param", "value"),
    [(m, p, v) for (m, p), values in CASES.items() for v in values],
    ids=lambda v: repr(v)[:30],
)
async def test_out_of_range_is_refused_before_sending(
    jobs: Flavor, recorder: Recorder, method: str, param: str, value: Any
) -> None:
    with pytest.raises(ValidationError) as info:
        await _call(method, **{param: value})(jobs)
    assert info.value.path == ITEM_PATHS.get((method, param), param)
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("param", "value"),
    [(p, v) for p, values in BATCH_CASES.items() for v in values],
    ids=lambda v: repr(v)[:30],
)
async def test_out_of_range_batch_items_are_refused_before_sending(
    jobs: Flavor, recorder: Recorder, param: str, value: Any
) -> None:
    with pytest.raises(ValidationError) as info:
        await _call("dispatch_many", **{param: value})(jobs)
    assert info.value.path == f"jobs[1].{param}"
    assert recorder.requests == []


async def test_the_bounds_themselves_are_accepted(jobs: Flavor, recorder: Recorder) -> None:
    await jobs.dispatch(TENANT, "test_job", priority=C.MAX_PRIORITY, max_attempts=1)
    await jobs.dispatch(
        TENANT, "test_job", priority=C.MIN_PRIORITY, max_attempts=C.MAX_MAX_ATTEMPTS
    )
    recorder.queue(*[_answer([])] * 3)
    await jobs.list(limit=C.MAX_LIST_LIMIT, offset=C.MAX_LIST_OFFSET)
    await jobs.claim("w1", limit=C.MAX_CLAIM_LIMIT, lease_seconds=C.MAX_LEASE_SECONDS)
    await jobs.claim("w1", limit=1, lease_seconds=timedelta(seconds=1))
    assert len(recorder.requests) == 5
    assert recorder.requests[2].url.params["offset"] == str(C.MAX_LIST_OFFSET)


def _answer(body: Any) -> Any:
    import httpx

    return httpx.Response(200, json=body)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("priority", C.MAX_PRIORITY + 1),
        ("priority", True),
        ("max_attempts", 0),
        ("max_attempts", 10**30),
    ],
)
def test_registry_defaults_are_range_checked(option: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=option):
        JobTypeRegistry().register("send_email", **{option: value})
