"""Faults: the gateway going away, database connections dying, restarts and retried writes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from supabase import ClientOptions, create_client

from supabase_jobs._core import idempotent_job_id
from supabase_jobs.local import LocalStack

from ._helpers import key_headers

pytestmark = pytest.mark.e2e

TENANT = "00000000-0000-4000-8000-0000000000f1"


@pytest.fixture
def restartable(stack: LocalStack, db: psycopg.Connection[Any]) -> Iterator[LocalStack]:
    """The stack, with its gateway guaranteed to be running again after the test."""
    yield stack
    if not stack.gateway.running:
        stack.gateway.start()


def dispatch_once(client: Any, key: str) -> list[dict[str, Any]]:
    """The SDK's keyed insert: the id derived from tenant and key, ON CONFLICT (id)."""
    row = {
        "id": idempotent_job_id(TENANT, key),
        "tenant_id": TENANT,
        "type": "test_job",
        "payload": {},
        "idempotency_key": key,
    }
    return list(
        client.table("jobs")
        .upsert(
            [row],
            on_conflict="id",
            ignore_duplicates=True,
            default_to_null=False,
        )
        .execute()
        .data
    )


def test_stopped_gateway_gives_transport_error_then_restart_works(restartable: LocalStack):
    stack = restartable
    with httpx.Client(timeout=10) as http:
        options = ClientOptions(httpx_client=http, postgrest_client_retry=False)
        client = create_client(stack.url, stack.service_role_key, options)
        assert dispatch_once(client, "first")
        port = stack.gateway.port
        stack.gateway.stop()
        with pytest.raises(httpx.TransportError):
            dispatch_once(client, "during-outage")
        stack.gateway.start()
        assert stack.gateway.port == port
        assert dispatch_once(client, "after-restart")


def test_retried_dispatch_after_restart_yields_one_job(restartable: LocalStack, db):
    stack = restartable
    key = f"order-{uuid.uuid4()}"
    with httpx.Client(timeout=10) as http:
        options = ClientOptions(httpx_client=http, postgrest_client_retry=False)
        client = create_client(stack.url, stack.service_role_key, options)
        first = dispatch_once(client, key)
        stack.restart_gateway()
        assert dispatch_once(client, key) == []  # the duplicate is ignored, not inserted
    rows = db.execute("select id::text from public.jobs where idempotency_key = %s", [key])
    assert [row[0] for row in rows.fetchall()] == [first[0]["id"]]


def test_killed_database_connections_answer_503_json_then_recover(stack: LocalStack, db):
    db.execute(
        "select pg_terminate_backend(pid) from pg_stat_activity"
        " where usename = 'authenticator' and pid <> pg_backend_pid()"
    )
    statuses = []
    with httpx.Client(
        base_url=stack.rest_url, headers=key_headers(stack.service_role_key), timeout=10
    ) as http:
        for _ in range(30):
            response = http.get("/e2e_parent")
            statuses.append(response.status_code)
            if response.status_code == 200:
                break
            assert response.status_code == 503
            assert response.json()["code"] in ("57P01", "PGRST001")
    # The killed connections are really noticed (PostgREST answers 503 for them), then the
    # pool recovers; a first 200 would mean nothing was killed and nothing was tested.
    assert statuses[0] == 503, statuses
    assert statuses[-1] == 200, statuses


def test_concurrent_requests_share_the_pool(stack: LocalStack, db):
    import concurrent.futures

    headers = key_headers(stack.service_role_key)

    def insert(i: int) -> int:
        with httpx.Client(timeout=30) as http:
            response = http.post(
                stack.rest_url + "/e2e_nopk", json={"a": i, "b": "c"}, headers=headers
            )
            return response.status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(insert, range(64)))
    assert codes == [201] * 64
    assert db.execute("select count(distinct a) from public.e2e_nopk").fetchone() == (64,)
