"""Queue assertions for users' tests (exported by ``supabase_jobs.testing``).

``assert_enqueued`` / ``refute_enqueued`` read the queue through a jobs client, so they
work against the local stack, ``supabase start`` or a real project: whatever the client
points at. A failed assertion lists what *was* enqueued, each job with the reasons it did
not match (``payload.to: expected 'a@x', got 'b@x'``). The matching and the messages are
pure functions; the ``_async`` twins share them. ``drain`` runs a worker until nothing is
due and returns what happened to each attempt. ``perform`` lives in ``_testing_perform``.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._async._client import AsyncJobsClient
from ._errors import ConfigurationError, ValidationError
from ._models import Job, JobStatus
from ._rpc import list_query
from ._sync._client import JobsClient
from ._worker import AsyncWorker, JobOutcome, Worker, WorkerHooks, WorkerStats

__all__ = [
    "Drained",
    "assert_enqueued",
    "assert_enqueued_async",
    "drain",
    "drain_async",
    "refute_enqueued",
    "refute_enqueued_async",
]

#: Jobs read per assertion: PostgREST's cap on one answer. Scope a busy queue by tenant.
_READ_LIMIT = 1000
#: Jobs listed in a failure message.
_SHOWN = 20


@dataclass(frozen=True)
class _Criteria:
    """What an assertion looks for (validated; ``None`` = any)."""

    type: str | None
    tenant_id: str | None
    queue: str | None
    statuses: tuple[str, ...] | None
    payload: Mapping[str, Any] | None

    def describe(self) -> str:
        parts = [
            f"{name}={value!r}"
            for name, value in (
                ("type", self.type),
                ("tenant_id", self.tenant_id),
                ("queue", self.queue),
                ("payload ⊇", None if self.payload is None else dict(self.payload)),
            )
            if value is not None
        ]
        status = "any status" if self.statuses is None else "/".join(self.statuses)
        return f"{status} job with " + (", ".join(parts) or "any fields")


def _criteria(
    type: object, tenant_id: object, queue: object, status: object, payload: object
) -> _Criteria:
    query = list_query(
        tenant_id=tenant_id, status=status, job_type=type, queue=queue, limit=1, offset=0
    )
    if payload is not None and not isinstance(payload, Mapping):
        raise ValidationError("payload", "must be a mapping: the subset the job's payload holds")
    statuses = None if query.statuses is None else tuple(query.statuses)
    return _Criteria(query.type, query.tenant_id, query.queue, statuses, payload)


def _subset_mismatches(expected: object, actual: object, path: str) -> list[str]:
    """Where ``actual`` does not contain ``expected`` (dicts: every expected key, recursively)."""
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return [f"{path}: expected an object, got {actual!r}"]
        out = []
        for key, value in expected.items():
            if key not in actual:
                out.append(f"{path}.{key}: missing")
            else:
                out += _subset_mismatches(value, actual[key], f"{path}.{key}")
        return out
    if expected != actual or type(expected) is not type(actual):
        return [f"{path}: expected {expected!r}, got {actual!r}"]
    return []


def _mismatches(job: Job, criteria: _Criteria) -> list[str]:
    """Why ``job`` does not match (empty: it matches)."""
    out = []
    for name, wanted, got in (
        ("type", criteria.type, job.type),
        ("tenant_id", criteria.tenant_id, str(job.tenant_id)),
        ("queue", criteria.queue, job.queue),
    ):
        if wanted is not None and wanted != got:
            out.append(f"{name}: expected {wanted!r}, got {got!r}")
    if criteria.statuses is not None and job.status.value not in criteria.statuses:
        out.append(f"status: expected {'/'.join(criteria.statuses)}, got {job.status.value}")
    if criteria.payload is not None:
        out += _subset_mismatches(criteria.payload, job.payload, "payload")
    return out


def _describe(job: Job) -> str:
    return (
        f"{job.type} (id {job.id}, tenant {job.tenant_id}, queue {job.queue}, "
        f"{job.status.value}) payload={job.payload!r}"
    )


def _listing(criteria: _Criteria, jobs: list[Job]) -> str:
    if not jobs:
        return "the queue is empty"
    lines = [f"{len(jobs)} job(s) in the queue (newest first):"]
    for index, job in enumerate(jobs[:_SHOWN], 1):
        lines.append(f"  {index}. {_describe(job)}")
        lines += [f"       {reason}" for reason in _mismatches(job, criteria)]
    if len(jobs) > _SHOWN:
        lines.append(f"  ... and {len(jobs) - _SHOWN} more")
    return "\n".join(lines)


def _check_count(count: object) -> int | None:
    if count is None:
        return None
    if type(count) is not int or count < 0:
        raise ValidationError("count", "must be a non-negative integer")
    return count


def _assert_message(criteria: _Criteria, matched: list[Job], count: int | None) -> str | None:
    """The failure message of ``assert_enqueued``, or ``None`` when it holds."""
    if (count is None and matched) or (count is not None and len(matched) == count):
        return None
    wanted = "at least one" if count is None else f"exactly {count}"
    return f"expected {wanted} {criteria.describe()}; found {len(matched)}"


def assert_enqueued(
    jobs: JobsClient,
    *,
    type: str | None = None,
    tenant_id: str | uuid.UUID | None = None,
    payload: Mapping[str, Any] | None = None,
    queue: str | None = None,
    status: JobStatus | str | Iterable[JobStatus | str] | None = JobStatus.PENDING,
    count: int | None = None,
) -> list[Job]:
    """Assert that jobs matching every given field are in the queue; return them.

    Example::

        client.post("/reports", json={"month": "2026-01"})
        (job,) = assert_enqueued(jobs_client, type="document_export",
                                 payload={"month": "2026-01"})

    Args:
        jobs: The :class:`JobsClient` whose queue to read.
        type: Only this job type.
        tenant_id: Only this tenant (scope by tenant on a shared project).
        payload: A subset the payload must contain (nested dicts compared key by key,
            other values by equality and type).
        queue: Only this queue.
        status: Status(es) to consider (default ``pending``); ``None`` for any.
        count: Exactly this many must match (default: at least one).

    Returns:
        The matching jobs, newest first.

    Raises:
        AssertionError: No (or not ``count``) matching jobs; the message lists what
            was enqueued and why each job did not match.
        ValidationError: A malformed filter (nothing was read).
    """
    if not isinstance(jobs, JobsClient):
        raise ConfigurationError("assert_enqueued needs a JobsClient (async: *_async)")
    criteria = _criteria(type, tenant_id, queue, status, payload)
    wanted = _check_count(count)
    matched = _select(criteria, _read(jobs, criteria))
    message = _assert_message(criteria, matched, wanted)
    if message is not None:
        raise AssertionError(message + "\n" + _listing(criteria, _read_all(jobs, criteria)))
    return matched


def refute_enqueued(
    jobs: JobsClient,
    *,
    type: str | None = None,
    tenant_id: str | uuid.UUID | None = None,
    payload: Mapping[str, Any] | None = None,
    queue: str | None = None,
    status: JobStatus | str | Iterable[JobStatus | str] | None = JobStatus.PENDING,
) -> None:
    """Assert that NO job matching every given field is in the queue.

    Args are those of :func:`assert_enqueued` (without ``count``).

    Raises:
        AssertionError: Listing the matching jobs.
        ValidationError: A malformed filter (nothing was read).
    """
    if not isinstance(jobs, JobsClient):
        raise ConfigurationError("refute_enqueued needs a JobsClient (async: *_async)")
    criteria = _criteria(type, tenant_id, queue, status, payload)
    matched = _select(criteria, _read(jobs, criteria))
    if matched:
        raise AssertionError(_refute_message(criteria, matched))


async def assert_enqueued_async(
    jobs: AsyncJobsClient,
    *,
    type: str | None = None,
    tenant_id: str | uuid.UUID | None = None,
    payload: Mapping[str, Any] | None = None,
    queue: str | None = None,
    status: JobStatus | str | Iterable[JobStatus | str] | None = JobStatus.PENDING,
    count: int | None = None,
) -> list[Job]:
    """:func:`assert_enqueued` for an :class:`AsyncJobsClient` (same arguments)."""
    if not isinstance(jobs, AsyncJobsClient):
        raise ConfigurationError("assert_enqueued_async needs an AsyncJobsClient")
    criteria = _criteria(type, tenant_id, queue, status, payload)
    wanted = _check_count(count)
    matched = _select(criteria, await _read_async(jobs, criteria))
    message = _assert_message(criteria, matched, wanted)
    if message is not None:
        enqueued = await _read_all_async(jobs, criteria)
        raise AssertionError(message + "\n" + _listing(criteria, enqueued))
    return matched


async def refute_enqueued_async(
    jobs: AsyncJobsClient,
    *,
    type: str | None = None,
    tenant_id: str | uuid.UUID | None = None,
    payload: Mapping[str, Any] | None = None,
    queue: str | None = None,
    status: JobStatus | str | Iterable[JobStatus | str] | None = JobStatus.PENDING,
) -> None:
    """:func:`refute_enqueued` for an :class:`AsyncJobsClient` (same arguments)."""
    if not isinstance(jobs, AsyncJobsClient):
        raise ConfigurationError("refute_enqueued_async needs an AsyncJobsClient")
    criteria = _criteria(type, tenant_id, queue, status, payload)
    matched = _select(criteria, await _read_async(jobs, criteria))
    if matched:
        raise AssertionError(_refute_message(criteria, matched))


def _refute_message(criteria: _Criteria, matched: list[Job]) -> str:
    lines = [f"expected no {criteria.describe()}; found {len(matched)}:"]
    lines += [f"  {index}. {_describe(job)}" for index, job in enumerate(matched[:_SHOWN], 1)]
    return "\n".join(lines)


def _select(criteria: _Criteria, jobs: list[Job]) -> list[Job]:
    return [job for job in jobs if not _mismatches(job, criteria)]


def _read(jobs: JobsClient, c: _Criteria) -> list[Job]:
    return jobs.list(
        tenant_id=c.tenant_id, status=c.statuses, type=c.type, queue=c.queue, limit=_READ_LIMIT
    )


def _read_all(jobs: JobsClient, c: _Criteria) -> list[Job]:
    # For the failure listing: the tenant's jobs (or all), whatever type, queue and status.
    return jobs.list(tenant_id=c.tenant_id, limit=_READ_LIMIT)


async def _read_async(jobs: AsyncJobsClient, c: _Criteria) -> list[Job]:
    return await jobs.list(
        tenant_id=c.tenant_id, status=c.statuses, type=c.type, queue=c.queue, limit=_READ_LIMIT
    )


async def _read_all_async(jobs: AsyncJobsClient, c: _Criteria) -> list[Job]:
    return await jobs.list(tenant_id=c.tenant_id, limit=_READ_LIMIT)


@dataclass(frozen=True)
class Drained:
    """What :func:`drain` ran: one ``(job, outcome)`` per attempt, in the order they ended.

    Attributes:
        outcomes: ``(job, JobOutcome)`` pairs; ``job`` is the claimed job (``attempts``
            counts this attempt), ``outcome.kind`` is ``completed``, ``retried``,
            ``failed``, ``snoozed``, ``cancelled``... (see ``JobOutcome``).
        stats: The worker's final :class:`~supabase_jobs.WorkerStats` (``exit_code`` 0:
            every outcome was written).
    """

    outcomes: list[tuple[Job, JobOutcome]] = field(default_factory=list)
    stats: WorkerStats = field(default_factory=WorkerStats)

    @property
    def counts(self) -> Counter[str]:
        """Attempts by outcome kind, e.g. ``Counter({"completed": 3, "retried": 1})``."""
        return Counter(outcome.kind for _, outcome in self.outcomes)

    def jobs(self, kind: str | None = None) -> list[Job]:
        """The jobs whose attempt ended as ``kind`` (``None``: every attempt)."""
        return [job for job, outcome in self.outcomes if kind is None or outcome.kind == kind]

    def __len__(self) -> int:
        return len(self.outcomes)

    def __iter__(self) -> Iterator[tuple[Job, JobOutcome]]:
        return iter(self.outcomes)


class _Recorder(WorkerHooks):
    """Collects each attempt's outcome (called from handler threads: ``append`` is atomic)."""

    def __init__(self) -> None:
        self.outcomes: list[tuple[Job, JobOutcome]] = []

    def job_finished(self, job: Job, outcome: JobOutcome) -> None:
        self.outcomes.append((job, outcome))


def _prepare(worker: object, expected: type[Worker] | type[AsyncWorker]) -> _Recorder:
    if not isinstance(worker, expected):
        twin = "drain_async" if expected is Worker else "drain"
        raise ConfigurationError(
            f"worker must be a {expected.__name__} (use {twin} for the other kind)"
        )
    if worker._core is not None:
        raise ConfigurationError("worker is already running; drain needs it idle")
    recorder = _Recorder()
    worker.hooks.add([recorder])
    return recorder


def _restore(worker: Worker | AsyncWorker, recorder: _Recorder, signals: bool | None) -> None:
    worker.install_signal_handlers = signals
    worker.hooks.hooks.remove(recorder)


def drain(worker: Worker) -> Drained:
    """Run every due job through ``worker``'s handlers, now, and return the outcomes.

    Runs ``worker.run(drain=True)`` in the calling thread (handlers in the worker's own
    threads) without touching signal handlers: it claims what is due (from the worker's
    queues and types), runs it, writes the outcomes, and returns once a claim finds nothing
    due and nothing is in flight. A job retried with a short delay that becomes due before
    that runs again, so ``outcomes`` holds one entry per attempt. Jobs due later are left
    alone, and the worker's schedules are not ticked.

    Args:
        worker: A :class:`~supabase_jobs.Worker` with its handlers registered, not running.

    Returns:
        A :class:`Drained`: ``outcomes``, ``counts`` by kind, ``jobs(kind)``, ``stats``.

    Raises:
        ConfigurationError: Not a ``Worker`` (use :func:`drain_async` for an
            ``AsyncWorker``), already running, or without handlers.
    """
    recorder = _prepare(worker, Worker)
    signals, worker.install_signal_handlers = worker.install_signal_handlers, False
    try:
        stats = worker.run(drain=True)
    finally:
        _restore(worker, recorder, signals)
    return Drained(recorder.outcomes, stats)


async def drain_async(worker: AsyncWorker) -> Drained:
    """The :class:`~supabase_jobs.AsyncWorker` form of :func:`drain` (awaits its run)."""
    recorder = _prepare(worker, AsyncWorker)
    signals, worker.install_signal_handlers = worker.install_signal_handlers, False
    try:
        stats = await worker.run(drain=True)
    finally:
        _restore(worker, recorder, signals)
    return Drained(recorder.outcomes, stats)
