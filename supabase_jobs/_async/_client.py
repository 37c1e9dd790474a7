"""The jobs client, asynchronous flavour: construction from the environment, dispatch, reads.

``_async`` is the source; ``scripts/unasync.py`` generates ``_sync`` from it, so edit the
async files and re-run the script. Every method is prepare (pure: ``_core``, ``_rpc``)
-> PostgREST call(s) inside ``translate_errors()`` -> parse (pure). Dispatch drives the
sans-I/O flow of ``_idempotency`` (its retry loop lives there, once). The lifecycle RPCs
live in ``_lifecycle.py``, construction and close in ``_base.py``.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import httpx
from pydantic import BaseModel
from supabase import AsyncClientOptions, acreate_client

from .._constants import DEFAULT_SCHEMA, DEFAULT_TABLE, RPC_KEYED_JOBS
from .._core import log_dispatched, parse_jobs, prepare_dispatch, prepare_dispatch_many
from .._errors import ConfigurationError, ConflictError, NotFoundError
from .._idempotency import (
    IDEMPOTENCY_CONFLICT,
    DispatchFlow,
    Insert,
    Operation,
    ReadByIds,
    dispatch_flow,
)
from .._models import Job, JobStatus
from .._observe import observe_dispatch
from .._registry import JobTypeRegistry
from .._rpc import job_id_of, list_query
from .._settings import JobsSettings
from .._translate import translate_errors
from .._validate import validate_uuid
from ._admin import AsyncJobsAdmin
from ._lifecycle import AsyncJobsLifecycle
from ._ops import AsyncJobsOps
from ._wait import AsyncJobsWait

__all__ = ["AsyncJobsClient"]

logger = logging.getLogger("supabase_jobs")


class AsyncJobsClient(AsyncJobsAdmin, AsyncJobsLifecycle, AsyncJobsOps, AsyncJobsWait):
    """A multi-tenant job queue in a Supabase project, reached through PostgREST.

    Wraps a service-role supabase-py ``AsyncClient``. Build one from the environment
    with ``await AsyncJobsClient.from_env()`` or wrap an existing client::

        async with await AsyncJobsClient.from_env() as jobs:
            job = await jobs.dispatch(tenant_id, "ai_generation", {"prompt": "hi"})

    The wrapped client's httpx session gets one read-only response hook that records
    the gateway's request id, so errors can carry ``request_id``. Every argument is
    validated before anything is sent; every error raised is a :class:`JobsError`.

    Args:
        supabase_client: A supabase ``AsyncClient`` created with the service-role (or
            ``sb_secret_``) key and no signed-in user. It stays yours: closing this
            client does not close it.
        config: Schema, table, defaults and limits (``JobsConfig()`` when omitted).
        registry: The accepted job types (the six default types when omitted).

    Raises:
        ConfigurationError: ``supabase_client`` is not a supabase ``AsyncClient``.
        NotServiceRoleError: The client would act as anon or as a signed-in user.
    """

    @classmethod
    async def from_env(
        cls,
        *,
        env_file: str | Path | None = ".env",
        registry: JobTypeRegistry | None = None,
        **overrides: Any,
    ) -> AsyncJobsClient:
        """Build a client from ``SUPABASE_URL`` + ``SUPABASE_SERVICE_ROLE_KEY`` (or ``.env``).

        The client owns an ``httpx.AsyncClient`` with ``SUPABASE_JOBS_HTTP_TIMEOUT``;
        close it with ``aclose()`` or ``async with``. Reads (GET) are retried by
        postgrest-py on network errors and 503; writes and RPCs never are.

        Args:
            env_file: The dotenv file to read; ``None`` to use the environment only.
            registry: The accepted job types (the six default types when omitted).
            **overrides: :class:`JobsSettings` fields that win over the environment.

        Returns:
            A ready client (no request is sent until you call a method).

        Raises:
            ConfigurationError: A variable is missing or malformed (named in the message).
            NotServiceRoleError: The key is an anon / publishable key.
        """
        settings = JobsSettings.load(env_file=env_file, **overrides)
        http = httpx.AsyncClient(timeout=settings.http_timeout)
        options = AsyncClientOptions(
            httpx_client=http,
            schema=settings.db_schema,
            auto_refresh_token=False,
            persist_session=False,
        )
        try:
            supabase_client = await acreate_client(
                settings.url, settings.service_role_key.get_secret_value(), options
            )
            client = cls(supabase_client, config=settings, registry=registry)
        except BaseException:
            await http.aclose()
            raise
        client._owned_http = http
        return client

    async def dispatch(
        self,
        tenant_id: str | UUID,
        type: str,
        payload: dict[str, Any] | BaseModel | None = None,
        *,
        run_at: datetime | timedelta | None = None,
        priority: int | None = None,
        queue: str | None = None,
        max_attempts: int | None = None,
        idempotency_key: str | None = None,
    ) -> Job:
        """Validate, scrub and insert one job; returns it with status ``pending``.

        With an ``idempotency_key`` the job's id is derived from tenant and key and the
        insert is ``ON CONFLICT (id) DO NOTHING``: a dispatch whose response was lost
        (timeout) can be sent again and returns the same job, never a second one. The
        existing job is returned as stored (its payload and options win over this call's),
        also when another writer stored the key under an id of its own.

        Args:
            tenant_id: The tenant (canonical UUID string or :class:`uuid.UUID`).
            type: A registered job type.
            payload: JSON-native ``dict`` (or a pydantic model instance); secrets are
                scrubbed, the caller's object is never mutated.
            run_at: When the job becomes due: aware ``datetime`` or ``timedelta`` delay.
            priority: -100..100, higher first (default: type's, then client's).
            queue: Queue name (default: type's, then client's).
            max_attempts: 1..1000 (default: type's, then client's).
            idempotency_key: A repeated dispatch with the same key and tenant returns
                the existing job instead of creating one.

        Returns:
            The stored :class:`Job`.

        Raises:
            ValidationError: Bad input (no request was sent); ``.path`` names the field.
            ConfigurationError: The key is held under an id not derived from it (another
                writer stored it) in a table other than ``public.jobs``: see
                ``sj_keyed_jobs_v1``.
            JobsError: A translated backend or transport failure.
        """
        prepared = prepare_dispatch(
            self._config,
            self._registry,
            tenant_id,
            type,
            payload,
            run_at=run_at,
            priority=priority,
            queue=queue,
            max_attempts=max_attempts,
            idempotency_key=idempotency_key,
        )
        with observe_dispatch([prepared.row]) as observed:
            jobs = await self._run_dispatch(dispatch_flow([prepared], single=True))
            observed.dispatched(jobs)
        log_dispatched(jobs, [prepared])
        return jobs[0]

    async def dispatch_many(self, jobs: Iterable[Mapping[str, Any]]) -> builtins.list[Job]:
        """Dispatch a batch in ONE insert request; returns the jobs in input order.

        Every item is validated before anything is sent. Rows get client-generated ids,
        so the answer maps back to input order whatever order the database returns.
        Items whose ``(tenant_id, idempotency_key)`` already exists come back as the
        existing jobs (read back by their derived ids, one GET per 150 ids: keys never
        travel in a URL, which gets logged); items of the same batch
        sharing a key are inserted once and all return that job. Resending a batch
        whose response was lost is safe for keyed items; unkeyed items are inserted
        again, so give every item a key when you may retry.

        Args:
            jobs: Mappings with ``dispatch``'s argument names (``tenant_id``, ``type``,
                ``payload``, ``run_at``, ``priority``, ``queue``, ``max_attempts``,
                ``idempotency_key``); at most 10,000.

        Returns:
            One :class:`Job` per item, in input order.

        Raises:
            ValidationError: Bad input; ``.path`` reads like ``jobs[3].payload.when``.
            MassAssignmentError: An item sets a queue-managed column (``status``...).
            JobsError: A translated backend or transport failure.
        """
        prepared = prepare_dispatch_many(self._config, self._registry, jobs)
        if not prepared:
            return []
        with observe_dispatch([p.row for p in prepared]) as observed:
            result = await self._run_dispatch(dispatch_flow(prepared))
            observed.dispatched(result)
        log_dispatched(result, prepared)
        return result

    async def _run_dispatch(self, flow: DispatchFlow) -> builtins.list[Job]:
        """Drive a dispatch flow: send each of its requests and hand it the answer.

        A conflict from an insert is thrown into the flow, which decides whether it is a
        key race to ride out (see ``_idempotency``) or an error to raise.
        """
        try:
            operation = next(flow)
            while True:
                try:
                    answer = await self._perform(operation)
                except ConflictError as exc:
                    operation = flow.throw(exc)
                else:
                    operation = flow.send(answer)
        except StopIteration as done:
            return cast("builtins.list[Job]", done.value)

    async def _perform(self, operation: Operation) -> builtins.list[Job]:
        """One request of a dispatch flow; URLs carry ids only, never idempotency keys."""
        if isinstance(operation, Insert):
            return await self._insert(operation)
        if isinstance(operation, ReadByIds):
            query = self._rest().table(self._config.table).select("*")
            query = query.eq("tenant_id", operation.tenant).in_("id", operation.ids)
            with translate_errors("dispatch", count=str(len(operation.ids))):
                response = await query.execute()
            return parse_jobs(response.data)
        # Keys in a POST body: URLs end up in logs (httpx's INFO line, proxies).
        if (self._config.db_schema, self._config.table) != (DEFAULT_SCHEMA, DEFAULT_TABLE):
            raise ConfigurationError(
                "an idempotency key is held by a job whose id was not derived from it (another "
                "writer stored it); finding it needs sj_keyed_jobs_v1, which reads public.jobs "
                "only, not SUPABASE_JOBS_SCHEMA / SUPABASE_JOBS_TABLE",
                variables=("SUPABASE_JOBS_SCHEMA", "SUPABASE_JOBS_TABLE"),
            )
        params = {"p_tenant_id": operation.tenant, "p_keys": operation.keys}
        return parse_jobs(
            await self._rpc(RPC_KEYED_JOBS, params, "dispatch", count=str(len(operation.keys)))
        )

    async def _insert(self, insert: Insert) -> builtins.list[Job]:
        """One POST: a lone ``dispatch`` row as an object, a batch as a list."""
        table = self._rest().table(self._config.table)
        body: Any = insert.rows[0] if insert.single else insert.rows
        if insert.single:
            row = insert.rows[0]
            context = {"tenant_id": str(row["tenant_id"]), "type": str(row["type"])}
            action = "dispatch"
        else:
            context, action = {"count": str(len(insert.rows))}, "dispatch_many"
        with translate_errors(action, **context):
            if insert.keyed:
                builder = table.upsert(
                    body,
                    on_conflict=IDEMPOTENCY_CONFLICT,
                    ignore_duplicates=True,
                    default_to_null=False,
                )
            elif insert.single:
                builder = table.insert(body)
            else:
                builder = table.insert(body, default_to_null=False)
            response = await builder.execute()
        return parse_jobs(response.data)

    async def get(self, job_id: Job | str | UUID, *, tenant_id: str | UUID | None = None) -> Job:
        """Read one job by id.

        Args:
            job_id: The job's id (or a :class:`Job`, to read its current state).
            tenant_id: Only find the job if it belongs to this tenant.

        Returns:
            The job as stored now.

        Raises:
            ValidationError: A malformed id (no request was sent).
            NotFoundError: No such job (for that tenant).
            JobsError: A translated backend or transport failure.
        """
        job = job_id_of(job_id)
        tenant = None if tenant_id is None else validate_uuid(tenant_id, path="tenant_id")
        query = self._rest().table(self._config.table).select("*").eq("id", job)
        if tenant is not None:
            query = query.eq("tenant_id", tenant)
        with translate_errors("get", job_id=job):
            response = await query.execute()
        jobs = parse_jobs(response.data)
        if not jobs:
            raise NotFoundError("the job does not exist", job_id=job)
        return jobs[0]

    async def delete(self, job: Job | str | UUID, *, tenant_id: str | UUID | None = None) -> Job:
        """Delete one job row, whatever its status, and return it.

        Meant for tests, examples and per-tenant clean-up; housekeeping of finished
        jobs is :meth:`prune`. A worker holding the job will get :class:`LeaseLostError`.

        Args:
            job: The job or its id.
            tenant_id: Only delete the job if it belongs to this tenant.

        Returns:
            The deleted row.

        Raises:
            ValidationError: A malformed id (no request was sent).
            NotFoundError: No such job (for that tenant).
            JobsError: A translated backend or transport failure.
        """
        job_id = job_id_of(job)
        tenant = None if tenant_id is None else validate_uuid(tenant_id, path="tenant_id")
        query = self._rest().table(self._config.table).delete().eq("id", job_id)
        if tenant is not None:
            query = query.eq("tenant_id", tenant)
        with translate_errors("delete", job_id=job_id):
            response = await query.execute()
        deleted = parse_jobs(response.data)
        if not deleted:
            raise NotFoundError("the job does not exist", job_id=job_id)
        logger.info("deleted job %s", job_id, extra={"action": "delete", "job_id": job_id})
        return deleted[0]

    async def list(
        self,
        *,
        tenant_id: str | UUID | None = None,
        status: JobStatus | str | Iterable[JobStatus | str] | None = None,
        type: str | None = None,
        queue: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[Job]:
        """Jobs matching every given filter, newest first (``created_at``, then ``id``).

        Args:
            tenant_id: Only this tenant's jobs.
            status: A :class:`JobStatus` (or its value), or a non-empty list of them.
            type: Only this job type.
            queue: Only this queue.
            limit: At most this many jobs (1..1000; PostgREST caps answers at 1000).
            offset: Skip this many (for paging).

        Returns:
            The matching jobs, newest first.

        Raises:
            ValidationError: A malformed filter (no request was sent).
            JobsError: A translated backend or transport failure.
        """
        q = list_query(
            tenant_id=tenant_id,
            status=status,
            job_type=type,
            queue=queue,
            limit=limit,
            offset=offset,
        )
        query = self._rest().table(self._config.table).select("*")
        if q.tenant_id is not None:
            query = query.eq("tenant_id", q.tenant_id)
        if q.statuses is not None:
            query = query.in_("status", q.statuses)
        if q.type is not None:
            query = query.eq("type", q.type)
        if q.queue is not None:
            query = query.eq("queue", q.queue)
        query = query.order("created_at", desc=True).order("id", desc=True).limit(q.limit)
        if q.offset:
            query = query.offset(q.offset)
        with translate_errors("list"):
            response = await query.execute()
        return parse_jobs(response.data)
