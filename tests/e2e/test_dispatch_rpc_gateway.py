"""sj_dispatch_v1 through the local gateway, as supabase-js / supabase-py call it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg
import pytest
from supabase import Client

from supabase_jobs import JobsClient, JobStatus
from supabase_jobs._core import idempotent_job_id
from supabase_jobs.local import LocalStack

from ._helpers import data, key_headers

pytestmark = pytest.mark.e2e

TENANT = "00000000-0000-4000-8000-0000000000e1"
RPC = "/rpc/sj_dispatch_v1"


def body(**options: Any) -> dict[str, Any]:
    """The JSON body supabase-js sends for ``supabase.rpc('sj_dispatch_v1', {...})``."""
    return {
        "p_tenant_id": TENANT,
        "p_type": "ai_generation",
        "p_payload": {"prompt": "hi", "max_tokens": 512, "apiKey": "sk-not-stored"},
        "p_options": options,
    }


def count(db: psycopg.Connection[Any]) -> int:
    row = db.execute("select count(*) from public.jobs").fetchone()
    assert row is not None
    return int(row[0])


def test_service_role_dispatches_over_http(http: httpx.Client, db: psycopg.Connection[Any]):
    response = http.post(RPC, json=body(queue="ai", priority=3))
    assert response.status_code == 200, response.text
    job = response.json()
    assert isinstance(job, dict)  # one composite row: a JSON object, not an array
    assert (job["status"], job["queue"], job["priority"]) == ("pending", "ai", 3)
    assert job["payload"] == {"prompt": "hi", "max_tokens": 512}
    assert count(db) == 1


@pytest.mark.parametrize("key_name", ["secret_key", "service_role_key"])
def test_both_service_key_formats_work(
    stack: LocalStack, db: psycopg.Connection[Any], key_name: str
):
    key = getattr(stack, key_name)
    with httpx.Client(base_url=stack.rest_url, headers=key_headers(key), timeout=30) as client:
        assert client.post(RPC, json=body()).status_code == 200
    assert count(db) == 1


def test_supabase_py_rpc(sb: Client, db: psycopg.Connection[Any]):
    job = data(sb.rpc("sj_dispatch_v1", body(idempotency_key="py-1")).execute())
    assert job["idempotency_key"] == "py-1"
    assert job["id"] == idempotent_job_id(TENANT, "py-1")


@pytest.mark.parametrize("who", ["anon", "publishable", "user"])
def test_api_roles_are_refused(stack: LocalStack, db: psycopg.Connection[Any], who: str):
    if who == "user":
        token = stack.mint_user_jwt(TENANT)
        headers = {"apikey": stack.anon_key, "Authorization": f"Bearer {token}"}
        expected = 403  # a signed-in user: PostgREST answers 403 to 42501
    else:
        headers = key_headers(stack.anon_key if who == "anon" else stack.publishable_key)
        expected = 401  # anon: 401
    with httpx.Client(base_url=stack.rest_url, headers=headers, timeout=30) as client:
        response = client.post(RPC, json=body())
    assert (response.status_code, response.json()["code"]) == (expected, "42501")
    assert count(db) == 0


def test_bad_option_is_a_400_naming_it(http: httpx.Client, db: psycopg.Connection[Any]):
    response = http.post(RPC, json=body(status="completed"))
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "22023"
    assert error["message"] == "p_options.status is not a dispatch option"
    assert count(db) == 0


def test_sql_then_sdk_dispatch_of_one_key_is_one_job(http: httpx.Client, jobs_client: JobsClient):
    from_sql = http.post(RPC, json=body(idempotency_key="order-7")).json()
    from_sdk = jobs_client.dispatch(TENANT, "ai_generation", {"n": 1}, idempotency_key="order-7")
    assert str(from_sdk.id) == from_sql["id"]
    assert from_sdk.payload == from_sql["payload"]  # the first dispatch's payload, as stored
    assert len(jobs_client.list(tenant_id=TENANT)) == 1


def test_sdk_then_sql_dispatch_of_one_key_is_one_job(http: httpx.Client, jobs_client: JobsClient):
    from_sdk = jobs_client.dispatch(TENANT, "ai_generation", {"n": 1}, idempotency_key="order-8")
    from_sql = http.post(RPC, json=body(idempotency_key="order-8")).json()
    assert from_sql["id"] == str(from_sdk.id)
    assert from_sql["payload"] == {"n": 1}
    # A batch through the SDK resolves to the same job too.
    (again,) = jobs_client.dispatch_many(
        [{"tenant_id": TENANT, "type": "ai_generation", "idempotency_key": "order-8"}]
    )
    assert again.id == from_sdk.id
    assert len(jobs_client.list(tenant_id=TENANT)) == 1


def test_rpc_dispatched_job_runs_through_the_sdk(http: httpx.Client, jobs_client: JobsClient):
    job_id = http.post(RPC, json=body()).json()["id"]
    (claimed,) = jobs_client.claim("w-rpc", limit=1)
    assert str(claimed.id) == job_id
    jobs_client.complete(claimed, result={"ok": True})
    assert jobs_client.wait(uuid.UUID(job_id), timeout=30).status is JobStatus.COMPLETED
