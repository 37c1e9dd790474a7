"""Operator reads and writes: keyset pages of jobs and deletes by id (the CLI's needs).

Each method is prepare (pure, ``_paging``) -> PostgREST call(s) inside
``translate_errors()`` -> parse (pure). Every argument is checked before any request.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from .._core import parse_jobs
from .._errors import NotFoundError
from .._models import Job, JobStatus
from .._paging import JobPage, delete_ids, keyset_filter, page_of, page_query
from .._paging import timestamp_filter_value as _ts
from .._translate import translate_errors
from .._validate import validate_uuid
from ._base import AsyncJobsBase

__all__ = ["AsyncJobsOps"]

logger = logging.getLogger("supabase_jobs")


class AsyncJobsOps(AsyncJobsBase):
    """Keyset paging and bulk delete, for operators and the command line."""

    async def list_page(
        self,
        *,
        tenant_id: str | UUID | None = None,
        status: JobStatus | str | Iterable[JobStatus | str] | None = None,
        type: str | None = None,
        queue: str | None = None,
        created_before: datetime | None = None,
        created_after: datetime | None = None,
        after: Job | str | UUID | None = None,
        limit: int = 100,
    ) -> JobPage:
        """One page of jobs matching every filter, newest first, continuing after a job.

        Unlike ``list(offset=...)``, pages stay stable while jobs are dispatched: each
        page holds the jobs strictly older (by ``created_at``, then ``id``) than
        ``after``.

        Args:
            tenant_id: Only this tenant's jobs.
            status: A :class:`JobStatus` (or its value), or a non-empty list of them.
            type: Only this job type.
            queue: Only this queue.
            created_before: Only jobs created before this aware datetime.
            created_after: Only jobs created at or after this aware datetime.
            after: The previous page's ``next_after`` (a job or its id).
            limit: At most this many jobs (1..1000).

        Returns:
            The :class:`JobPage`; its ``next_after`` is ``None`` on the last page.

        Raises:
            ValidationError: A malformed filter (no request was sent).
            NotFoundError: The ``after`` job no longer exists.
            JobsError: A translated backend or transport failure.
        """
        q = page_query(
            tenant_id=tenant_id,
            status=status,
            job_type=type,
            queue=queue,
            created_before=created_before,
            created_after=created_after,
            after=after,
            limit=limit,
        )
        query = self._rest().table(self._config.table).select("*")
        f = q.filters
        if f.tenant_id is not None:
            query = query.eq("tenant_id", f.tenant_id)
        if f.statuses is not None:
            query = query.in_("status", f.statuses)
        if f.type is not None:
            query = query.eq("type", f.type)
        if f.queue is not None:
            query = query.eq("queue", f.queue)
        if q.created_before is not None:
            query = query.lt("created_at", _ts(q.created_before))
        if q.created_after is not None:
            query = query.gte("created_at", _ts(q.created_after))
        if q.after is not None:
            query = query.or_(keyset_filter(await self._created_at(q.after), q.after))
        # One row more than asked: whether a next page exists, without a count query.
        query = query.order("created_at", desc=True).order("id", desc=True).limit(f.limit + 1)
        with translate_errors("list"):
            response = await query.execute()
        return page_of(parse_jobs(response.data), f.limit)

    async def _created_at(self, job_id: str) -> datetime:
        """The cursor job's ``created_at`` (its position in the newest-first order)."""
        query = self._rest().table(self._config.table).select("*").eq("id", job_id)
        with translate_errors("list", job_id=job_id):
            response = await query.execute()
        jobs = parse_jobs(response.data)
        if not jobs:
            raise NotFoundError("the cursor job (after) does not exist", job_id=job_id)
        return jobs[0].created_at

    async def delete_many(
        self,
        jobs: Iterable[Job | str | UUID],
        *,
        tenant_id: str | UUID | None = None,
    ) -> builtins.list[Job]:
        """Delete jobs by id, whatever their status, in one request.

        Ids that do not exist (for that tenant) are simply not in the answer; compare
        the ids to find them. Housekeeping of finished jobs is :meth:`prune`.

        Args:
            jobs: 1..500 jobs or ids (duplicates count once).
            tenant_id: Only delete jobs of this tenant.

        Returns:
            The deleted rows (in no particular order).

        Raises:
            ValidationError: A malformed id or list (no request was sent).
            JobsError: A translated backend or transport failure.
        """
        ids = delete_ids(jobs)
        tenant = None if tenant_id is None else validate_uuid(tenant_id, path="tenant_id")
        query = self._rest().table(self._config.table).delete().in_("id", ids)
        if tenant is not None:
            query = query.eq("tenant_id", tenant)
        with translate_errors("delete", count=str(len(ids))):
            response = await query.execute()
        deleted = parse_jobs(response.data)
        logger.info(
            "deleted %d jobs", len(deleted), extra={"action": "delete", "count": len(deleted)}
        )
        return deleted
