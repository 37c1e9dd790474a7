"""Keyset pages of jobs and deletes by id: validation and filters, no I/O.

``list`` pages with ``offset``, which gets slower the deeper it goes and skips or repeats
rows when jobs arrive between pages. A keyset page instead continues *after* a job: newest
first by ``(created_at, id)``, the next page holds the jobs strictly older than the cursor
job, so concurrent inserts (which are newer) never shift it.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from ._errors import ValidationError
from ._models import Job
from ._rpc import ListQuery, job_id_of, list_query

__all__ = [
    "MAX_DELETE_IDS",
    "JobPage",
    "PageQuery",
    "delete_ids",
    "keyset_filter",
    "page_of",
    "page_query",
    "timestamp_filter_value",
]

#: At most this many ids per ``delete_many``: one ``id=in.(...)`` filter must fit a URL.
MAX_DELETE_IDS = 500


@dataclass(frozen=True)
class JobPage:
    """One keyset page of jobs, newest first.

    Attributes:
        jobs: The jobs of this page.
        next_after: Pass it as ``after`` to get the next page; ``None`` on the last page.
    """

    jobs: list[Job]
    next_after: str | None


@dataclass(frozen=True)
class PageQuery:
    """Validated filters of a keyset page."""

    filters: ListQuery
    created_before: datetime | None
    created_after: datetime | None
    after: str | None


def _aware(value: object, path: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValidationError(path, "must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(path, "must be timezone-aware")
    return value


def page_query(
    *,
    tenant_id: object,
    status: object,
    job_type: object,
    queue: object,
    created_before: object,
    created_after: object,
    after: object,
    limit: object,
) -> PageQuery:
    """Validate every filter of a keyset page before any request.

    Raises:
        ValidationError: naming the offending argument.
    """
    filters = list_query(
        tenant_id=tenant_id, status=status, job_type=job_type, queue=queue, limit=limit, offset=0
    )
    before = _aware(created_before, "created_before")
    since = _aware(created_after, "created_after")
    if before is not None and since is not None and since >= before:
        raise ValidationError("created_after", "must be earlier than created_before")
    return PageQuery(
        filters=filters,
        created_before=before,
        created_after=since,
        after=None if after is None else job_id_of(after, path="after"),
    )


def timestamp_filter_value(value: datetime) -> str:
    """A PostgREST filter value for a ``timestamptz``: UTC, microseconds, no ``+`` sign."""
    # "+00:00" would reach PostgREST as a space unless escaped; "Z" needs no escaping.
    utc = value.astimezone(timezone.utc).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


def keyset_filter(created_at: datetime, job_id: str) -> str:
    """The ``or=(...)`` body selecting jobs after the cursor job (newest first)."""
    stamp = timestamp_filter_value(created_at)
    return f"created_at.lt.{stamp},and(created_at.eq.{stamp},id.lt.{job_id})"


def page_of(jobs: Sequence[Job], limit: int) -> JobPage:
    """Cut the ``limit + 1`` rows fetched into a page and its cursor."""
    if len(jobs) > limit:
        return JobPage(jobs=builtins.list(jobs[:limit]), next_after=str(jobs[limit - 1].id))
    return JobPage(jobs=builtins.list(jobs), next_after=None)


def delete_ids(jobs: object) -> list[str]:
    """Validate the ids of ``delete_many``: 1..500 jobs or ids, duplicates dropped.

    Raises:
        ValidationError: Not a list of ids, empty, too many, or a malformed id.
    """
    if isinstance(jobs, (str, bytes)) or not isinstance(jobs, Iterable):
        raise ValidationError("jobs", "must be a list of jobs or job ids")
    ids: dict[str, None] = {}
    for index, job in enumerate(jobs):
        if index >= MAX_DELETE_IDS:
            raise ValidationError("jobs", f"must hold at most {MAX_DELETE_IDS} jobs")
        ids[job_id_of(job, path=f"jobs[{index}]")] = None
    if not ids:
        raise ValidationError("jobs", "must not be empty")
    return builtins.list(ids)
