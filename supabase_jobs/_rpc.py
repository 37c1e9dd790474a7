"""Sans-I/O lifecycle helpers: ``sj_*_v1`` RPC parameters, lease checks, response parsing.

Every function validates before anything is sent, so a bad argument raises a
:class:`ValidationError` naming it and no request leaves the process. Results and error
messages go through the same secret scrubber as payloads before they are stored.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from ._constants import (
    DEFAULT_LEASE_SECONDS,
    DEFAULT_SCHEMA,
    DEFAULT_TABLE,
    MAX_CLAIM_LIMIT,
    MAX_ERROR_MESSAGE_LENGTH,
    MAX_LEASE_SECONDS,
    MAX_LIST_LIMIT,
    MAX_LIST_OFFSET,
    MAX_PRUNE_AGE_SECONDS,
    MAX_RETRY_IN_SECONDS,
    MAX_WORKER_ID_LENGTH,
)
from ._errors import (
    BackendError,
    ConfigurationError,
    LeaseLostError,
    NotClaimedError,
    ValidationError,
)
from ._models import Job, JobStats, JobStatus
from ._payload import prepare_payload
from ._sanitize import scrub_text
from ._settings import JobsConfig
from ._validate import (
    int_in_range,
    validate_queue_name,
    validate_run_at,
    validate_type_name,
    validate_uuid,
    validate_worker_id,
)

__all__ = [
    "ListQuery",
    "cancel_params",
    "check_lifecycle_target",
    "claim_params",
    "clean_result",
    "complete_many_params",
    "complete_params",
    "ensure_all_held",
    "error_entry",
    "fail_params",
    "granted_lease_seconds",
    "heartbeat_params",
    "job_id_of",
    "lease_of",
    "list_query",
    "parse_count",
    "parse_stats",
    "prune_params",
    "retry_params",
    "snooze_params",
    "stats_params",
    "storable_text",
]

#: NUL and lone surrogates: neither Postgres text nor UTF-8 JSON can carry them.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


def job_id_of(job: object, path: str = "job_id") -> str:
    """The canonical id of a :class:`Job` or of a UUID given as ``str``/``UUID``."""
    if isinstance(job, Job):
        return str(job.id)
    return validate_uuid(job, path=path)


def lease_of(job: object, path: str = "job") -> tuple[str, str]:
    """``(job_id, lease_id)`` of a job returned by ``claim``.

    Raises:
        NotClaimedError: ``job`` is not a :class:`Job` or carries no lease (it was not
            returned by ``claim``/``heartbeat``), so no lease-fenced call can succeed.
    """
    if not isinstance(job, Job):
        raise NotClaimedError(path, "must be a Job returned by claim()")
    if job.lease_id is None:
        raise NotClaimedError(path, "has no lease_id; only claimed jobs can be completed")
    return str(job.id), str(job.lease_id)


def _seconds(value: object, path: str, *, low: float, high: float) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValidationError(path, f"must be a number of seconds (or timedelta) in {low}..{high}")
    return float(value)


def _lease_seconds(value: object) -> int:
    seconds = _seconds(value, "lease_seconds", low=1, high=MAX_LEASE_SECONDS)
    if seconds != int(seconds):
        raise ValidationError("lease_seconds", "must be a whole number of seconds")
    return int(seconds)


def _names(value: object, path: str, check: Callable[..., str]) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValidationError(path, "must be a list of names (not a single string)")
    names = [check(name, path=f"{path}[{index}]") for index, name in enumerate(value)]
    if not names:
        raise ValidationError(path, "must not be empty (use None for all)")
    return names


def claim_params(
    worker_id: object, *, types: object, queues: object, limit: object, lease_seconds: object
) -> dict[str, Any]:
    """Parameters of ``sj_claim_v1``."""
    if (
        not isinstance(worker_id, str)
        or not 1 <= len(worker_id) <= MAX_WORKER_ID_LENGTH
        or not worker_id.isprintable()
    ):
        raise ValidationError(
            "worker_id", f"must be 1..{MAX_WORKER_ID_LENGTH} printable characters"
        )
    return {
        "p_worker_id": validate_worker_id(worker_id),
        "p_limit": int_in_range(limit, "limit", 1, MAX_CLAIM_LIMIT),
        "p_lease_seconds": _lease_seconds(lease_seconds),
        "p_types": _names(types, "types", validate_type_name),
        "p_queues": _names(queues, "queues", validate_queue_name),
    }


def next_due_params(*, types: object, queues: object) -> dict[str, Any]:
    """Parameters of ``sj_next_due_v1``."""
    return {
        "p_queues": _names(queues, "queues", validate_queue_name),
        "p_types": _names(types, "types", validate_type_name),
    }


def _job_list(items: object) -> builtins.list[object]:
    """Materialise a batch argument; a lone Job (pydantic models iterate as field
    pairs), string or mapping is a caller bug, not a batch."""
    if isinstance(items, (Job, str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise ValidationError("jobs", "must be a list of claimed jobs")
    listed = builtins.list(items)
    if not listed:
        raise ValidationError("jobs", "must not be empty")
    return listed


def heartbeat_params(jobs: object, lease_seconds: object = None) -> dict[str, Any]:
    """Parameters of ``sj_heartbeat_v1`` for one or more claimed jobs.

    ``lease_seconds=None`` renews each lease for the length it was granted (``claim`` and
    ``heartbeat`` set ``locked_until`` and ``heartbeat_at`` in one statement); a batch with
    different lengths gets the longest, so no lease is ever shortened by a default.
    """
    items = _job_list(jobs)
    leases = [lease_of(job, f"jobs[{i}]") for i, job in enumerate(items)]
    if lease_seconds is None:
        lease_seconds = max(
            # lease_of() above has checked that every item is a claimed Job.
            (granted_lease_seconds(job) for job in items if isinstance(job, Job)),
            default=DEFAULT_LEASE_SECONDS,
        )
    return {
        "p_job_ids": [job_id for job_id, _ in leases],
        "p_lease_ids": [lease_id for _, lease_id in leases],
        "p_lease_seconds": _lease_seconds(lease_seconds),
    }


def granted_lease_seconds(job: Job) -> int:
    """The lease length ``job`` was last granted, or the default when the row lacks it."""
    if job.locked_until is None or job.heartbeat_at is None:
        return DEFAULT_LEASE_SECONDS
    granted = round((job.locked_until - job.heartbeat_at).total_seconds())
    return min(max(granted, 1), MAX_LEASE_SECONDS)


def check_lifecycle_target(config: JobsConfig) -> None:
    """Refuse lifecycle RPCs for a table the shipped functions do not serve.

    The ``sj_*_v1`` functions are created in ``public`` and work on ``public.jobs``; a
    client configured for another schema or table would claim from a queue that its own
    dispatches never reach.

    Raises:
        ConfigurationError: ``SUPABASE_JOBS_SCHEMA`` / ``SUPABASE_JOBS_TABLE`` is not the
            default.
    """
    if (config.db_schema, config.table) != (DEFAULT_SCHEMA, DEFAULT_TABLE):
        raise ConfigurationError(
            "the lifecycle functions (claim, complete, fail, ...) work on public.jobs only; "
            "SUPABASE_JOBS_SCHEMA / SUPABASE_JOBS_TABLE other than public / jobs are "
            "supported for dispatch, get and list",
            variables=("SUPABASE_JOBS_SCHEMA", "SUPABASE_JOBS_TABLE"),
        )


def clean_result(result: object, config: JobsConfig, path: str = "result") -> Any:
    """Validate a job result (any JSON value) and scrub secrets out of it."""
    if result is None:  # the common case (no-op handlers, complete_many of bare jobs)
        return None
    return prepare_payload(
        result,
        mode=config.scrub_mode,
        max_bytes=config.max_payload_bytes,
        max_depth=config.max_payload_depth,
        path=path,
        require_object=False,
    ).value


def complete_params(job: object, result: object, config: JobsConfig) -> dict[str, Any]:
    """Parameters of ``sj_complete_v1``."""
    job_id, lease_id = lease_of(job)
    return {"p_job_id": job_id, "p_lease_id": lease_id, "p_result": clean_result(result, config)}


def complete_many_params(items: object, config: JobsConfig) -> tuple[dict[str, Any], list[str]]:
    """Parameters of ``sj_complete_many_v1`` and the requested ids (to spot lost leases).

    Each item is a claimed :class:`Job` (result ``None``) or a ``(job, result)`` pair.
    """
    payload = []
    ids = []
    for index, item in enumerate(_job_list(items)):
        job, result = item if isinstance(item, tuple) and len(item) == 2 else (item, None)
        job_id, lease_id = lease_of(job, f"jobs[{index}]")
        payload.append(
            {
                "id": job_id,
                "lease_id": lease_id,
                "result": clean_result(result, config, f"jobs[{index}].result"),
            }
        )
        ids.append(job_id)
    return {"p_items": payload}, ids


def storable_text(text: str, limit: int = MAX_ERROR_MESSAGE_LENGTH) -> str:
    """Scrub, clean and truncate free text (error messages, reasons) before it is stored.

    Postgres ``text`` cannot hold NUL and JSON cannot carry lone surrogates; either would
    make the RPC itself fail, and a worker's ``fail()`` would be lost with the job stuck
    in ``processing`` until its lease expires. Scrubbing runs before the final cut (on a
    bounded prefix, so a huge message costs little): a secret cut in half at the limit
    would otherwise escape the value patterns.
    """
    text = _UNSTORABLE.sub("\N{REPLACEMENT CHARACTER}", text[: limit * 4])
    return scrub_text(text)[:limit]


def _message_of(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:  # a broken __str__ must not lose the failure being recorded
        return f"<unprintable {type(error).__name__}>"


def error_entry(error: object) -> dict[str, Any]:
    """``{"type", "message"}`` for an exception or a message, scrubbed and truncated."""
    if isinstance(error, BaseException):
        cls = type(error)
        kind: str | None = (
            cls.__qualname__
            if cls.__module__ == "builtins"
            else f"{cls.__module__}.{cls.__qualname__}"
        )
        message = _message_of(error)
    elif isinstance(error, str):
        kind, message = None, error
    else:
        raise ValidationError("error", "must be an exception or a message string")
    return {"type": kind, "message": storable_text(message)}


def fail_params(job: object, error: object, *, retry: object, retry_in: object) -> dict[str, Any]:
    """Parameters of ``sj_fail_v1``; ``retry_in`` overrides the SQL backoff."""
    job_id, lease_id = lease_of(job)
    if not isinstance(retry, bool):
        raise ValidationError("retry", "must be a bool")
    return {
        "p_job_id": job_id,
        "p_lease_id": lease_id,
        "p_error": error_entry(error),
        "p_retry": retry,
        "p_retry_in_seconds": (
            None
            if retry_in is None
            else _seconds(retry_in, "retry_in", low=0, high=MAX_RETRY_IN_SECONDS)
        ),
    }


def snooze_params(job: object, until: object, now: datetime | None = None) -> dict[str, Any]:
    """Parameters of ``sj_snooze_v1``: back to pending at ``until`` (datetime or delay)."""
    job_id, lease_id = lease_of(job)
    run_at = validate_run_at(until, path="until", now=now)
    return {"p_job_id": job_id, "p_lease_id": lease_id, "p_run_at": run_at.isoformat()}


def cancel_params(job: object, reason: object) -> dict[str, Any]:
    """Parameters of ``sj_cancel_v1``; the reason is scrubbed like an error message."""
    if reason is not None and not isinstance(reason, str):
        raise ValidationError("reason", "must be a string")
    return {
        "p_job_id": job_id_of(job),
        "p_reason": None if reason is None else storable_text(reason),
    }


def retry_params(job: object, run_at: object) -> dict[str, Any]:
    """Parameters of ``sj_retry_v1``."""
    when = None if run_at is None else validate_run_at(run_at).isoformat()
    return {"p_job_id": job_id_of(job), "p_run_at": when}


def stats_params(tenant_id: object) -> dict[str, Any]:
    """Parameters of ``sj_stats_v1`` (all tenants when ``tenant_id`` is ``None``)."""
    tenant = None if tenant_id is None else validate_uuid(tenant_id, path="tenant_id")
    return {"p_tenant_id": tenant}


def prune_params(older_than: object, statuses: object) -> dict[str, Any]:
    """Parameters of ``sj_prune_v1``; only finished statuses can be pruned."""
    params: dict[str, Any] = {
        "p_older_than_seconds": _seconds(
            older_than, "older_than", low=0, high=MAX_PRUNE_AGE_SECONDS
        )
    }
    if statuses is not None:
        if isinstance(statuses, (str, bytes)) or not isinstance(statuses, Iterable):
            raise ValidationError("statuses", "must be a list of statuses")
        values = []
        for index, status in enumerate(statuses):
            try:
                parsed = JobStatus(status)
            except ValueError:
                raise ValidationError(f"statuses[{index}]", "is not a job status") from None
            if parsed not in _TERMINAL:
                raise ValidationError(
                    f"statuses[{index}]", "must be completed, failed or cancelled"
                )
            values.append(parsed.value)
        if not values:
            raise ValidationError("statuses", "must not be empty")
        params["p_statuses"] = values
    return params


def ensure_all_held(requested: Sequence[str], done: Sequence[Job]) -> builtins.list[Job]:
    """Match a batch RPC's rows to the requested ids; input order, one job per id.

    Returns:
        The returned jobs, in the order their ids were requested (a repeated id once).

    Raises:
        LeaseLostError: Some requested ids were not returned (their lease is lost);
            ``completed`` holds the jobs that were returned.
    """
    by_id = {str(job.id): job for job in done}
    lost = [job_id for job_id in dict.fromkeys(requested) if job_id not in by_id]
    ordered = [by_id[job_id] for job_id in dict.fromkeys(requested) if job_id in by_id]
    if lost:
        raise LeaseLostError(lost, completed=tuple(ordered))
    return ordered


def parse_stats(data: object) -> JobStats:
    """Fold ``sj_stats_v1`` rows (``type, status, count``) into :class:`JobStats`."""
    if not isinstance(data, list):
        raise BackendError("unexpected response from sj_stats_v1")
    by_status = dict.fromkeys(JobStatus, 0)
    by_type: dict[str, dict[JobStatus, int]] = {}
    for row in data:
        try:
            assert isinstance(row, Mapping)
            status = JobStatus(row["status"])
            count = int(row["count"])
            kind = str(row["type"])
        except (AssertionError, KeyError, ValueError, TypeError):
            raise BackendError("unexpected row shape from sj_stats_v1") from None
        by_status[status] += count
        per_type = by_type.setdefault(kind, dict.fromkeys(JobStatus, 0))
        per_type[status] += count
    return JobStats(by_status=by_status, by_type=by_type, total=sum(by_status.values()))


def parse_count(data: object) -> int:
    """The bigint a scalar RPC (``sj_prune_v1``) returns."""
    if isinstance(data, bool) or not isinstance(data, (int, str)):
        raise BackendError("unexpected response from sj_prune_v1")
    try:
        return int(data)
    except ValueError:
        raise BackendError("unexpected response from sj_prune_v1") from None


@dataclass(frozen=True)
class ListQuery:
    """Validated filters for ``list``; ``None`` means no filter on that column."""

    tenant_id: str | None
    statuses: list[str] | None
    type: str | None
    queue: str | None
    limit: int
    offset: int


def list_query(
    *,
    tenant_id: object,
    status: object,
    job_type: object,
    queue: object,
    limit: object,
    offset: object,
) -> ListQuery:
    """Validate the filters of ``list`` (newest first, at most ``limit`` rows)."""
    int_in_range(limit, "limit", 1, MAX_LIST_LIMIT)
    int_in_range(offset, "offset", 0, MAX_LIST_OFFSET)
    statuses = None
    if isinstance(status, (str, JobStatus)):
        try:
            statuses = [JobStatus(status).value]
        except ValueError:
            raise ValidationError("status", "is not a job status") from None
    elif status is not None:
        if isinstance(status, (bytes, Mapping)) or not isinstance(status, Iterable):
            raise ValidationError("status", "must be a JobStatus or a list of them")
        statuses = []
        for index, item in enumerate(status):
            if not isinstance(item, str):  # JobStatus is a str; 1 or b"x" are bugs
                raise ValidationError(f"status[{index}]", "is not a job status")
            try:
                statuses.append(JobStatus(item).value)
            except ValueError:
                raise ValidationError(f"status[{index}]", "is not a job status") from None
        if not statuses:
            raise ValidationError("status", "must not be empty (use None for all)")
    if job_type is not None:
        validate_type_name(job_type)
    if queue is not None:
        validate_queue_name(queue)
    return ListQuery(
        tenant_id=None if tenant_id is None else validate_uuid(tenant_id, path="tenant_id"),
        statuses=statuses,
        type=cast("str | None", job_type),
        queue=cast("str | None", queue),
        limit=cast("int", limit),
        offset=cast("int", offset),
    )
