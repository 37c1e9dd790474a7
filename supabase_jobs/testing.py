"""pytest plugin: a local Supabase-compatible stack and job clients as fixtures.

Installing ``supabase-jobs`` registers this plugin through the ``pytest11`` entry point, so in
a project that depends on ``supabase-jobs[local]`` the fixtures are simply there. Without the
entry point (e.g. running from a source checkout), enable it in the root ``conftest.py``::

    pytest_plugins = ["supabase_jobs.testing"]

or on the command line with ``pytest -p supabase_jobs.testing``. Disable it with
``-p no:supabase_jobs``.

Fixtures:
    ``supabase_jobs_stack`` (session): a started :class:`~supabase_jobs.local.LocalStack`:
        a throwaway PostgreSQL with the Supabase shim and the jobs migrations, behind the
        PostgREST-compatible gateway. Set ``SUPABASE_JOBS_TEST_DATABASE_URL`` to a superuser
        URL to use an existing server instead (it is bootstrapped, never stopped).
    ``supabase_jobs_clean``: empties the jobs table before the test (the client fixtures
        depend on it, so every test that uses them starts from an empty queue).
    ``jobs_client``: a :class:`~supabase_jobs.JobsClient` with the service-role key.
    ``async_jobs_client``: an :class:`~supabase_jobs.AsyncJobsClient` (needs pytest-asyncio).
    ``mint_tenant_jwt``: ``mint_tenant_jwt(tenant_id, **claims) -> str``, a signed-in user's
        JWT for that tenant, for testing what your users can see through RLS.

Helpers (``from supabase_jobs.testing import ...``; see docs/testing.md):
    ``assert_enqueued(jobs, type=..., tenant_id=..., payload={...subset...}, queue=...)``
    and ``refute_enqueued(...)`` read the queue through a client and explain a failure
    with what *was* enqueued; ``perform(handler_or_type, payload)`` runs one handler with
    a real ``Job`` without dispatching; ``drain(worker)`` runs every due job through a
    ``Worker``'s handlers and returns the outcomes (``Drained``). ``*_async`` twins take
    an ``AsyncJobsClient`` / ``AsyncWorker``.

Example::

    def test_dispatch(jobs_client):
        job = jobs_client.dispatch(tenant_id, "test_job", {"n": 1})
        assert jobs_client.get(job.id).status == "pending"

The heavy imports (supabase, psycopg, uvicorn) happen inside the fixtures, so merely
loading the plugin costs nothing and never fails when the ``local`` extra is missing.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from supabase_jobs import AsyncJobsClient, JobsClient
    from supabase_jobs._testing_helpers import (
        Drained,
        assert_enqueued,
        assert_enqueued_async,
        drain,
        drain_async,
        refute_enqueued,
        refute_enqueued_async,
    )
    from supabase_jobs._testing_perform import perform, perform_async
    from supabase_jobs.local import LocalStack

__all__ = [
    "Drained",
    "assert_enqueued",
    "assert_enqueued_async",
    "async_jobs_client",
    "drain",
    "drain_async",
    "jobs_client",
    "mint_tenant_jwt",
    "perform",
    "perform_async",
    "refute_enqueued",
    "refute_enqueued_async",
    "supabase_jobs_clean",
    "supabase_jobs_stack",
]

#: Test helpers, imported on first use so that loading the plugin stays free (docs/testing.md).
_HELPERS = {
    "Drained": "_testing_helpers",
    "drain": "_testing_helpers",
    "drain_async": "_testing_helpers",
    "assert_enqueued": "_testing_helpers",
    "assert_enqueued_async": "_testing_helpers",
    "refute_enqueued": "_testing_helpers",
    "refute_enqueued_async": "_testing_helpers",
    "perform": "_testing_perform",
    "perform_async": "_testing_perform",
}


def __getattr__(name: str) -> Any:
    if name in _HELPERS:
        import importlib

        return getattr(importlib.import_module(f"supabase_jobs.{_HELPERS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Environment variable naming an existing PostgreSQL to run the stack against.
DATABASE_URL_ENV = "SUPABASE_JOBS_TEST_DATABASE_URL"
_HTTP_TIMEOUT_SECONDS = 30.0


@pytest.fixture(scope="session")
def supabase_jobs_stack() -> Iterator[LocalStack]:
    """A started local stack shared by the whole session."""
    from supabase_jobs.local import LocalStack

    with LocalStack(os.environ.get(DATABASE_URL_ENV) or None) as stack:
        yield stack


def truncate_jobs(stack: LocalStack) -> None:
    """Delete every job (``TRUNCATE``, as the database superuser, bypassing RLS)."""
    import psycopg

    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute("truncate table public.jobs")


@pytest.fixture
def supabase_jobs_clean(supabase_jobs_stack: LocalStack) -> LocalStack:
    """Empty the jobs table before the test; returns the stack."""
    truncate_jobs(supabase_jobs_stack)
    return supabase_jobs_stack


@pytest.fixture
def jobs_client(supabase_jobs_clean: LocalStack) -> Iterator[JobsClient]:
    """A sync service-role client on an empty queue."""
    import httpx
    from supabase import ClientOptions, create_client

    from supabase_jobs import JobsClient

    with httpx.Client(timeout=_HTTP_TIMEOUT_SECONDS) as http:
        options = ClientOptions(httpx_client=http, auto_refresh_token=False, persist_session=False)
        client = create_client(
            supabase_jobs_clean.url, supabase_jobs_clean.service_role_key, options
        )
        yield JobsClient(client)


@pytest.fixture
def mint_tenant_jwt(supabase_jobs_stack: LocalStack) -> Callable[..., str]:
    """``mint_tenant_jwt(tenant_id, sub=None, *, expires_in=3600, extra_claims=None)``."""
    return supabase_jobs_stack.mint_user_jwt


def _async_fixture() -> Any:
    try:
        import pytest_asyncio
    except ImportError:  # the async fixture needs pytest-asyncio; the rest works without it
        return None

    @pytest_asyncio.fixture
    async def async_jobs_client(supabase_jobs_clean: LocalStack) -> AsyncIterator[AsyncJobsClient]:
        """An async service-role client on an empty queue."""
        import httpx
        from supabase import AsyncClientOptions, acreate_client

        from supabase_jobs import AsyncJobsClient

        async with httpx.AsyncClient(timeout=_HTTP_TIMEOUT_SECONDS) as http:
            options = AsyncClientOptions(
                httpx_client=http, auto_refresh_token=False, persist_session=False
            )
            client = await acreate_client(
                supabase_jobs_clean.url, supabase_jobs_clean.service_role_key, options
            )
            yield AsyncJobsClient(client)

    return async_jobs_client


async_jobs_client = _async_fixture()
