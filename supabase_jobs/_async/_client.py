"""The jobs client, asynchronous flavour.

``_async/_client.py`` is the source; ``scripts/unasync.py`` generates ``_sync/_client.py``
from it, so edit the async file and re-run the script. Every method is prepare (pure,
``_core``/``_rpc``) -> one PostgREST call inside ``translate_errors()`` -> parse (pure).
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast, overload
from uuid import UUID

import httpx
from postgrest import AsyncPostgrestClient
from pydantic import BaseModel
from supabase import AsyncClient, AsyncClientOptions, acreate_client

from .._constants import (
    DEFAULT_LEASE_SECONDS,
    RPC_CANCEL,
    RPC_CLAIM,
    RPC_COMPLETE,
    RPC_COMPLETE_MANY,
    RPC_FAIL,
    RPC_HEARTBEAT,
    RPC_PRUNE,
    RPC_RETRY,
    RPC_SNOOZE,
    RPC_STATS,
)
from .._core import (
    IDEMPOTENCY_CONFLICT,
    log_dispatched,
    missing_duplicates,
    parse_job,
    parse_jobs,
    plan_batch,
    prepare_dispatch,
    prepare_dispatch_many,
    resolve_batch,
)
from .._errors import (
    BackendError,
    ConfigurationError,
    NotFoundError,
    remember_request_id,
    translate_errors,
)
from .._models import Job, JobStats, JobStatus
from .._registry import JobTypeRegistry
from .._rpc import (
    cancel_params,
    claim_params,
    complete_many_params,
    complete_params,
    ensure_all_held,
    fail_params,
    heartbeat_params,
    job_id_of,
    list_query,
    parse_count,
    parse_stats,
    prune_params,
    retry_params,
    snooze_params,
    stats_params,
)
from .._settings import JobsConfig, JobsSettings, check_service_role
from .._validate import validate_uuid

__all__ = ["AsyncJobsClient"]

logger = logging.getLogger("supabase_jobs")


async def _on_response(response: httpx.Response) -> None:
    """httpx response hook: keep the gateway's request id for error reports."""
    remember_request_id(response)


class AsyncJobsClient:
    """A multi-tenant job queue in a Supabase project, reached through PostgREST.

    Wraps a service-role supabase-py ``AsyncClient``. Build one from the environment
    with ``await AsyncJobsClient.from_env()`` or wrap an existing client::

        async with await AsyncJobsClient.from_env() as jobs:
            job = await jobs.dispatch(tenant_id, "ai_generation", {"prompt": "hi"})

    The wrapped client's httpx session gets one read-only response hook that records
    the gateway's request id, so errors can carry ``request_id``.

    Args:
        supabase_client: A supabase ``AsyncClient`` created with the service-role (or
            ``sb_secret_``) key and no signed-in user.
        config: Schema, table, defaults and limits (``JobsConfig()`` when omitted).
        registry: The accepted job types (the six default types when omitted).

    Raises:
        ConfigurationError: ``supabase_client`` is not a supabase ``AsyncClient``.
        NotServiceRoleError: The client would act as anon or as a signed-in user.
    """

    def __init__(
        self,
        supabase_client: AsyncClient,
        *,
        config: JobsConfig | None = None,
        registry: JobTypeRegistry | None = None,
    ) -> None:
        if not isinstance(supabase_client, AsyncClient):
            raise ConfigurationError(
                "AsyncJobsClient needs a supabase AsyncClient (from acreate_client)"
            )
        self._client = supabase_client
        self._config = config if config is not None else JobsConfig()
        self._registry = registry if registry is not None else JobTypeRegistry()
        self._owned_http: httpx.AsyncClient | None = None
        postgrest = supabase_client.postgrest
        self._authorization = postgrest.headers.get("authorization")
        check_service_role(supabase_client.supabase_key, self._authorization)
        hooks = postgrest.session.event_hooks["response"]
        if _on_response not in hooks:
            hooks.append(_on_response)

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
        close it with ``aclose()`` or ``async with``.

        Args:
            env_file: The dotenv file to read; ``None`` to use the environment only.
            registry: The accepted job types (the six default types when omitted).
            **overrides: :class:`JobsSettings` fields that win over the environment.

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

    @property
    def config(self) -> JobsConfig:
        """The schema, table, defaults and limits in use."""
        return self._config

    @property
    def registry(self) -> JobTypeRegistry:
        """The job types this client accepts."""
        return self._registry

    def _rest(self) -> AsyncPostgrestClient:
        postgrest = self._client.postgrest
        # A sign-in on the wrapped client swaps the Authorization header; re-check it
        # so jobs are never written with a user's token.
        authorization = postgrest.headers.get("authorization")
        if authorization != self._authorization:
            check_service_role(self._client.supabase_key, authorization)
            self._authorization = authorization
        return postgrest.schema(self._config.db_schema)

    async def _rpc(self, name: str, params: dict[str, Any], action: str, **context: str) -> Any:
        builder = self._rest().rpc(name, cast("dict[str, str]", params))
        with translate_errors(action, **context):
            response = await builder.execute()
        return response.data

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
        table = self._rest().table(self._config.table)
        with translate_errors("dispatch", tenant_id=prepared.tenant_id, type=prepared.type):
            if prepared.idempotency_key is None:
                response = await table.insert(prepared.row).execute()
            else:
                response = await table.upsert(
                    prepared.row,
                    on_conflict=IDEMPOTENCY_CONFLICT,
                    ignore_duplicates=True,
                    default_to_null=False,
                ).execute()
        jobs = parse_jobs(response.data)
        if not jobs and prepared.idempotency_key is not None:
            jobs = await self._fetch_duplicates([(prepared.tenant_id, prepared.idempotency_key)])
        if len(jobs) != 1:
            raise BackendError("the database did not return the dispatched job")
        log_dispatched(jobs, [prepared])
        return jobs[0]

    async def dispatch_many(self, jobs: Iterable[Mapping[str, Any]]) -> builtins.list[Job]:
        """Dispatch a batch in ONE request; returns the jobs in input order.

        Each item is a mapping with ``dispatch``'s argument names (``tenant_id``,
        ``type``, ``payload``, ``run_at``, ``priority``, ``queue``, ``max_attempts``,
        ``idempotency_key``). Every item is validated before anything is sent; items
        whose idempotency key exists already come back as the existing jobs (one extra
        read for all of them).

        Raises:
            ValidationError: Bad input; ``.path`` reads like ``jobs[3].payload.when``.
            MassAssignmentError: An item sets a queue-managed column (``status``...).
            JobsError: A translated backend or transport failure.
        """
        prepared = prepare_dispatch_many(self._config, self._registry, jobs)
        if not prepared:
            return []
        plan = plan_batch(prepared)
        table = self._rest().table(self._config.table)
        with translate_errors("dispatch_many", count=str(len(plan.rows))):
            if plan.upsert:
                builder = table.upsert(
                    plan.rows,
                    on_conflict=IDEMPOTENCY_CONFLICT,
                    ignore_duplicates=True,
                    default_to_null=False,
                )
            else:
                builder = table.insert(plan.rows, default_to_null=False)
            response = await builder.execute()
        inserted = parse_jobs(response.data)
        missing = missing_duplicates(plan, inserted)
        existing = await self._fetch_duplicates(missing) if missing else []
        result = resolve_batch(plan, inserted, existing)
        log_dispatched(result, prepared)
        return result

    async def _fetch_duplicates(self, pairs: Sequence[tuple[str, str]]) -> builtins.list[Job]:
        """One read for the jobs that idempotency keys already named."""
        tenants = sorted({tenant for tenant, _ in pairs})
        keys = sorted({key for _, key in pairs})
        query = self._rest().table(self._config.table).select("*")
        query = (
            query.eq("tenant_id", tenants[0])
            if len(tenants) == 1
            else query.in_("tenant_id", tenants)
        )
        query = (
            query.eq("idempotency_key", keys[0])
            if len(keys) == 1
            else query.in_("idempotency_key", keys)
        )
        with translate_errors("dispatch", count=str(len(pairs))):
            response = await query.execute()
        wanted = set(pairs)
        return [
            job
            for job in parse_jobs(response.data)
            if (str(job.tenant_id), job.idempotency_key) in wanted
        ]

    async def get(self, job_id: str | UUID, *, tenant_id: str | UUID | None = None) -> Job:
        """Read one job by id (optionally only if it belongs to ``tenant_id``).

        Raises:
            NotFoundError: No such job (for that tenant).
        """
        job = job_id_of(job_id)
        query = self._rest().table(self._config.table).select("*").eq("id", job)
        if tenant_id is not None:
            query = query.eq("tenant_id", validate_uuid(tenant_id, path="tenant_id"))
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

        Raises:
            NotFoundError: No such job (for that tenant).
        """
        job_id = job_id_of(job)
        query = self._rest().table(self._config.table).delete().eq("id", job_id)
        if tenant_id is not None:
            query = query.eq("tenant_id", validate_uuid(tenant_id, path="tenant_id"))
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
        """Jobs matching every given filter, newest first (``created_at``, then ``id``)."""
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

    async def claim(
        self,
        worker_id: str,
        *,
        types: Iterable[str] | None = None,
        queues: Iterable[str] | None = None,
        limit: int = 10,
        lease_seconds: int | timedelta = DEFAULT_LEASE_SECONDS,
    ) -> builtins.list[Job]:
        """Atomically claim up to ``limit`` due jobs (highest priority first).

        Each returned job is ``processing`` and carries a fresh ``lease_id``; pass it
        to ``heartbeat``/``complete``/``fail``/``snooze`` before ``lease_seconds`` pass,
        or another worker may claim it again.
        """
        params = claim_params(
            worker_id, types=types, queues=queues, limit=limit, lease_seconds=lease_seconds
        )
        jobs = parse_jobs(await self._rpc(RPC_CLAIM, params, "claim", worker_id=worker_id))
        logger.debug("claimed %d jobs", len(jobs), extra={"action": "claim", "count": len(jobs)})
        return jobs

    @overload
    async def heartbeat(self, jobs: Job, *, lease_seconds: int | timedelta = ...) -> Job: ...

    @overload
    async def heartbeat(
        self, jobs: Sequence[Job], *, lease_seconds: int | timedelta = ...
    ) -> builtins.list[Job]: ...

    async def heartbeat(
        self,
        jobs: Job | Sequence[Job],
        *,
        lease_seconds: int | timedelta = DEFAULT_LEASE_SECONDS,
    ) -> Job | builtins.list[Job]:
        """Extend the leases of one or more claimed jobs (all or nothing).

        Raises:
            LeaseLostError: A lease is no longer held; ``.job_ids`` lists which.
        """
        single = isinstance(jobs, Job)
        batch: Sequence[Job] = [jobs] if isinstance(jobs, Job) else jobs
        params = heartbeat_params(batch, lease_seconds)
        renewed = parse_jobs(await self._rpc(RPC_HEARTBEAT, params, "heartbeat"))
        return renewed[0] if single and renewed else renewed

    async def complete(self, job: Job, result: Any = None) -> Job:
        """Mark a claimed job completed, storing ``result`` (JSON, scrubbed).

        Raises:
            LeaseLostError: The lease expired and the job belongs to someone else now.
        """
        params = complete_params(job, result, self._config)
        data = await self._rpc(RPC_COMPLETE, params, "complete", job_id=params["p_job_id"])
        return parse_job(data)

    async def complete_many(self, jobs: Iterable[Job | tuple[Job, Any]]) -> builtins.list[Job]:
        """Complete a batch of claimed jobs in one request.

        Items are jobs (result ``None``) or ``(job, result)`` pairs. Held jobs are
        completed even when some leases were lost; then :class:`LeaseLostError` lists
        the lost ids and carries the completed jobs in ``.completed``.
        """
        params, requested = complete_many_params(jobs, self._config)
        done = parse_jobs(await self._rpc(RPC_COMPLETE_MANY, params, "complete_many"))
        ensure_all_held(requested, done)
        return done

    async def fail(
        self,
        job: Job,
        error: BaseException | str,
        *,
        retry: bool = True,
        retry_in: float | timedelta | None = None,
    ) -> Job:
        """Record a failed attempt; retried with backoff until ``max_attempts``.

        Args:
            job: A claimed job.
            error: The exception (type and message stored, message scrubbed) or a message.
            retry: ``False`` fails the job for good.
            retry_in: Override the backoff delay (seconds or ``timedelta``).
        """
        params = fail_params(job, error, retry=retry, retry_in=retry_in)
        return parse_job(await self._rpc(RPC_FAIL, params, "fail", job_id=params["p_job_id"]))

    async def snooze(self, job: Job, until: datetime | timedelta) -> Job:
        """Put a claimed job back to pending until ``until``; the attempt is not spent."""
        params = snooze_params(job, until)
        return parse_job(await self._rpc(RPC_SNOOZE, params, "snooze", job_id=params["p_job_id"]))

    async def cancel(self, job: Job | str | UUID, reason: str | None = None) -> Job:
        """Cancel a pending or processing job (idempotent for cancelled jobs).

        Raises:
            NotFoundError: No such job.
            InvalidStateError: The job already completed or failed.
        """
        params = cancel_params(job, reason)
        return parse_job(await self._rpc(RPC_CANCEL, params, "cancel", job_id=params["p_job_id"]))

    async def retry(
        self, job: Job | str | UUID, *, run_at: datetime | timedelta | None = None
    ) -> Job:
        """Requeue a failed or cancelled job with a fresh attempt budget.

        Raises:
            NotFoundError: No such job.
            InvalidStateError: The job is processing or completed.
        """
        params = retry_params(job, run_at)
        return parse_job(await self._rpc(RPC_RETRY, params, "retry", job_id=params["p_job_id"]))

    async def stats(self, tenant_id: str | UUID | None = None) -> JobStats:
        """Job counts by status and type (for one tenant, or all)."""
        return parse_stats(await self._rpc(RPC_STATS, stats_params(tenant_id), "stats"))

    async def prune(
        self,
        older_than: float | timedelta,
        *,
        statuses: Iterable[JobStatus | str] | None = None,
    ) -> int:
        """Delete finished jobs older than ``older_than``; returns how many were deleted."""
        params = prune_params(older_than, statuses)
        deleted = parse_count(await self._rpc(RPC_PRUNE, params, "prune"))
        logger.info("pruned %d jobs", deleted, extra={"action": "prune", "count": deleted})
        return deleted

    async def aclose(self) -> None:
        """Close the HTTP client ``from_env`` created (a wrapped client is left open)."""
        if self._owned_http is not None:
            await self._owned_http.aclose()
            self._owned_http = None

    async def __aenter__(self) -> AsyncJobsClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"{builtins.type(self).__name__}(schema={self._config.db_schema!r}, "
            f"table={self._config.table!r}, types={len(self._registry)})"
        )
