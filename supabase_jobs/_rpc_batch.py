"""Sans-I/O parameters and answers of the batched worker calls (migration 0005 and fail_many).

``sj_heartbeat_many_v1`` and ``sj_release_many_v1`` answer per item (``held`` /
``applied``); a lost lease is data, never an error, so one cancelled job does not fail a
whole batch. ``sj_fail_many_v1`` is the batched form of ``fail``.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from ._constants import MAX_RETRY_IN_SECONDS
from ._errors import BackendError, ValidationError
from ._models import Job
from ._rpc import fail_params, heartbeat_params, lease_of, storable_text

__all__ = [
    "fail_many_params",
    "heartbeat_many_params",
    "parse_lost",
    "release_many_params",
]


def _listed(items: object, path: str) -> builtins.list[object]:
    if isinstance(items, (Job, str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise ValidationError(path, "must be a list")
    listed = builtins.list(items)
    if not listed:
        raise ValidationError(path, "must not be empty")
    return listed


def heartbeat_many_params(jobs: object, lease_seconds: object = None) -> dict[str, Any]:
    """Parameters of ``sj_heartbeat_many_v1`` (same shape as ``sj_heartbeat_v1``)."""
    return heartbeat_params(jobs, lease_seconds)


def _delay(value: object, path: str) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 <= value <= MAX_RETRY_IN_SECONDS
    ):
        raise ValidationError(path, f"must be seconds (or timedelta) in 0..{MAX_RETRY_IN_SECONDS}")
    return float(value)


def release_many_params(
    snoozes: Iterable[tuple[Job, float | timedelta]] = (),
    cancels: Iterable[tuple[Job, str | None]] = (),
) -> tuple[dict[str, Any], builtins.list[str]]:
    """Parameters of ``sj_release_many_v1`` and the ids in request order.

    Args:
        snoozes: ``(job, delay)`` pairs: back to pending after ``delay``, attempt given back.
        cancels: ``(job, reason)`` pairs: cancelled for good.
    """
    items: builtins.list[dict[str, Any]] = []
    for index, (job, delay) in enumerate(snoozes):
        job_id, lease_id = lease_of(job, f"snoozes[{index}]")
        seconds = _delay(delay, f"snoozes[{index}].delay")
        items.append(
            {"id": job_id, "lease_id": lease_id, "action": "snooze", "delay_seconds": seconds}
        )
    for index, (job, reason) in enumerate(cancels):
        job_id, lease_id = lease_of(job, f"cancels[{index}]")
        if reason is not None and not isinstance(reason, str):
            raise ValidationError(f"cancels[{index}].reason", "must be a string")
        items.append(
            {
                "id": job_id,
                "lease_id": lease_id,
                "action": "cancel",
                "reason": None if reason is None else storable_text(reason),
            }
        )
    if not items:
        raise ValidationError("items", "must not be empty")
    return {"p_items": items}, [item["id"] for item in items]


def fail_many_params(items: object) -> tuple[dict[str, Any], builtins.list[str]]:
    """Parameters of ``sj_fail_many_v1`` and the requested ids.

    Each item is ``(job, error)`` or ``(job, error, retry, retry_in)``; ``error`` is an
    exception or a message (scrubbed, truncated), ``retry_in`` overrides the SQL backoff.
    """
    payload = []
    ids = []
    for index, item in enumerate(_listed(items, "failures")):
        if not isinstance(item, tuple) or len(item) not in (2, 4):
            raise ValidationError(
                f"failures[{index}]", "must be (job, error) or (job, error, retry, retry_in)"
            )
        job, error, retry, retry_in = item if len(item) == 4 else (*item, True, None)
        try:
            one = fail_params(job, error, retry=retry, retry_in=retry_in)
        except ValidationError as exc:
            raise type(exc)(f"failures[{index}].{exc.path}", exc.reason) from None
        payload.append(
            {
                "id": one["p_job_id"],
                "lease_id": one["p_lease_id"],
                "error": one["p_error"],
                "retry": one["p_retry"],
                "retry_in_seconds": one["p_retry_in_seconds"],
            }
        )
        ids.append(one["p_job_id"])
    return {"p_items": payload}, ids


def parse_lost(data: object, flag: str, rpc: str) -> builtins.list[str]:
    """The ids a per-item answer (``[{"job_id", flag: bool}]``) reports as not held."""
    if not isinstance(data, list):
        raise BackendError(f"unexpected response from {rpc}")
    lost = []
    for row in data:
        if not isinstance(row, Mapping) or not isinstance(row.get(flag), bool):
            raise BackendError(f"unexpected row shape from {rpc}")
        if not row[flag]:
            lost.append(str(row["job_id"]))
    return lost
