"""Shared helpers for the SDK's unit tests: fake keys, a recording MockTransport, clients.

The MockTransport only records the exact outgoing HTTP and plays back canned PostgREST
answers (or network faults); database behaviour is tested against a real PostgreSQL in
``tests/integration``.
"""

from __future__ import annotations

import inspect
import json
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx
import jwt
from supabase import (
    AsyncClientOptions,
    ClientOptions,
    acreate_client,
    create_client,
)

from supabase_jobs._async._client import AsyncJobsClient
from supabase_jobs._sync._client import JobsClient

URL = "http://jobs.test"
JWT_SECRET = "unit-test-secret-with-at-least-32-characters"
TENANT = "1521f0ae-4db7-4110-a993-c494535d9b00"
OTHER_TENANT = "2b0e7c1a-0d5e-4f3a-9c51-0f6f3a2b9e11"


def mint_jwt(role: str, **claims: Any) -> str:
    """An HS256 JWT like Supabase's keys (signature irrelevant: the SDK does not verify)."""
    body = {"iss": "supabase-demo", "role": role, "exp": int(time.time()) + 3600, **claims}
    return jwt.encode(body, JWT_SECRET, algorithm="HS256")


SERVICE_KEY = mint_jwt("service_role")
ANON_KEY = mint_jwt("anon")


def job_row(**overrides: Any) -> dict[str, Any]:
    """A complete ``jobs`` row as PostgREST returns it."""
    row: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "tenant_id": TENANT,
        "type": "test_job",
        "status": "pending",
        "payload": {},
        "attempts": 0,
        "worker_id": None,
        "created_at": "2026-01-25T10:23:38.191585+00:00",
        "queue": "default",
        "priority": 0,
        "run_at": "2026-01-25T10:23:38.191585+00:00",
        "max_attempts": 5,
        "lease_id": None,
        "locked_until": None,
        "heartbeat_at": None,
        "idempotency_key": None,
        "result": None,
        "last_error": None,
        "errors": [],
        "started_at": None,
        "finished_at": None,
        "updated_at": "2026-01-25T10:23:38.191585+00:00",
    }
    row.update(overrides)
    return row


def claimed_row(**overrides: Any) -> dict[str, Any]:
    """A row as ``sj_claim_v1`` returns it (processing, with a lease)."""
    fields: dict[str, Any] = {
        "status": "processing",
        "attempts": 1,
        "worker_id": "w1",
        "lease_id": str(uuid.uuid4()),
        "locked_until": "2026-01-25T10:28:38+00:00",
    }
    return job_row(**{**fields, **overrides})


def echo_insert(request: httpx.Request) -> httpx.Response:
    """Answer an insert like PostgREST with ``return=representation``: the rows, completed."""
    body = json.loads(request.content)
    rows = body if isinstance(body, list) else [body]
    return httpx.Response(201, json=[job_row(**row) for row in rows])


Reply = httpx.Response | BaseException | Callable[[httpx.Request], httpx.Response]


class Recorder:
    """An httpx MockTransport handler that records requests and plays queued replies."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.replies: deque[Reply] = deque()

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def error(self, status: int, code: str | None, message: str = "boom", **extra: Any) -> None:
        body = {
            "code": code,
            "message": message,
            "details": extra.pop("details", None),
            "hint": extra.pop("hint", None),
        }
        self.queue(httpx.Response(status, json=body, **extra))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        reply = self.replies.popleft() if self.replies else echo_insert
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, httpx.Response):
            return reply
        return reply(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)


class Flavor:
    """Calls sync or async client methods the same way (``await jobs.method(...)``)."""

    def __init__(self, client: JobsClient | AsyncJobsClient, name: str) -> None:
        self.client = client
        self.name = name

    def __getattr__(self, attr: str) -> Callable[..., Any]:
        method = getattr(self.client, attr)

        async def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result

        return call


def sync_supabase(recorder: Recorder, key: str = SERVICE_KEY, **options: Any) -> Any:
    http = httpx.Client(transport=httpx.MockTransport(recorder))
    opts = ClientOptions(httpx_client=http, postgrest_client_retry=False, **options)
    return create_client(URL, key, opts)


async def async_supabase(recorder: Recorder, key: str = SERVICE_KEY, **options: Any) -> Any:
    http = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    opts = AsyncClientOptions(httpx_client=http, postgrest_client_retry=False, **options)
    return await acreate_client(URL, key, opts)
