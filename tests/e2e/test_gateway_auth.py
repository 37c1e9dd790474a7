"""Security through HTTP: JWT checks, key mapping, RLS and grants (postgrest.md §2.1, §3.3, §4)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import jwt
import psycopg
import pytest

from supabase_jobs.local import LocalStack

from ._helpers import data, key_headers, user_client

pytestmark = pytest.mark.e2e

TENANT_A = uuid.UUID("00000000-0000-4000-8000-00000000000a")
TENANT_B = uuid.UUID("00000000-0000-4000-8000-00000000000b")


@pytest.fixture
def jobs(db: psycopg.Connection[Any]) -> dict[uuid.UUID, set[str]]:
    rows = db.execute(
        "insert into public.jobs (tenant_id, type, payload) select t, 'test_job', '{}'"
        " from (values (%s::uuid), (%s::uuid), (%s::uuid)) v(t) returning tenant_id, id::text",
        [TENANT_A, TENANT_A, TENANT_B],
    ).fetchall()
    owned: dict[uuid.UUID, set[str]] = {TENANT_A: set(), TENANT_B: set()}
    for tenant, job_id in rows:
        owned[tenant].add(job_id)
    return owned


def statuses(db: psycopg.Connection[Any]) -> list[tuple[str, int]]:
    return db.execute("select status, attempts from public.jobs order by id").fetchall()


def user_headers(stack: LocalStack, token: str) -> dict[str, str]:
    return {"apikey": stack.anon_key, "Authorization": f"Bearer {token}"}


def test_tenant_user_lists_only_own_jobs(stack: LocalStack, jobs):
    with httpx.Client(timeout=30) as http:
        for tenant in (TENANT_A, TENANT_B):
            client = user_client(stack, http, stack.mint_user_jwt(tenant))
            rows = data(client.table("jobs").select("id, tenant_id").execute())
            assert {row["id"] for row in rows} == jobs[tenant]


def test_user_without_tenant_claim_sees_nothing(stack: LocalStack, jobs):
    token = stack.mint_user_jwt(None)
    response = httpx.get(stack.rest_url + "/jobs", headers=user_headers(stack, token))
    assert (response.status_code, response.json()) == (200, [])


@pytest.mark.parametrize("key", ["anon", "publishable", "none"])
def test_anon_gets_401_on_jobs(stack: LocalStack, jobs, key: str):
    headers = {
        "anon": key_headers(stack.anon_key),
        "publishable": key_headers(stack.publishable_key),
        "none": {},
    }[key]
    response = httpx.get(stack.rest_url + "/jobs", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "42501"
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("sj_claim_v1", {"p_worker_id": "intruder", "p_limit": 10}),
        ("sj_stats_v1", {}),
        ("sj_cancel_v1", {"p_job_id": "00000000-0000-0000-0000-000000000001"}),
    ],
)
def test_authenticated_user_cannot_call_job_functions(stack: LocalStack, jobs, db, name, body):
    before = statuses(db)
    headers = user_headers(stack, stack.mint_user_jwt(TENANT_A))
    response = httpx.post(f"{stack.rest_url}/rpc/{name}", json=body, headers=headers)
    assert (response.status_code, response.json()["code"]) == (403, "42501")
    anon = httpx.post(
        f"{stack.rest_url}/rpc/{name}", json=body, headers=key_headers(stack.anon_key)
    )
    assert (anon.status_code, anon.json()["code"]) == (401, "42501")
    assert statuses(db) == before


def test_authenticated_user_cannot_complete_a_claimed_job(stack: LocalStack, jobs, db):
    service = key_headers(stack.service_role_key)
    claimed = httpx.post(
        stack.rest_url + "/rpc/sj_claim_v1",
        json={"p_worker_id": "w", "p_limit": 1},
        headers=service,
    ).json()[0]
    headers = user_headers(stack, stack.mint_user_jwt(claimed["tenant_id"]))
    response = httpx.post(
        stack.rest_url + "/rpc/sj_complete_v1",
        json={"p_job_id": claimed["id"], "p_lease_id": claimed["lease_id"]},
        headers=headers,
    )
    assert response.status_code == 403
    row = db.execute("select status from public.jobs where id = %s", [claimed["id"]]).fetchone()
    assert row == ("processing",)


def test_authenticated_user_cannot_insert_update_or_delete(stack: LocalStack, jobs, db):
    headers = user_headers(stack, stack.mint_user_jwt(TENANT_A))
    before = statuses(db)
    job = {"tenant_id": str(TENANT_A), "type": "test_job", "payload": {}}
    assert httpx.post(stack.rest_url + "/jobs", json=job, headers=headers).status_code == 403
    patch = httpx.patch(
        stack.rest_url + "/jobs?status=eq.pending", json={"status": "completed"}, headers=headers
    )
    assert patch.status_code == 403
    delete = httpx.delete(stack.rest_url + "/jobs?status=eq.pending", headers=headers)
    assert delete.status_code == 403
    assert statuses(db) == before


def test_expired_jwt_is_401_pgrst303(stack: LocalStack, jobs):
    token = stack.mint_user_jwt(TENANT_A, expires_in=-3600)
    response = httpx.get(stack.rest_url + "/jobs", headers=user_headers(stack, token))
    assert response.status_code == 401
    assert response.json() == {
        "code": "PGRST303",
        "details": None,
        "hint": None,
        "message": "JWT expired",
    }
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_wrongly_signed_jwt_is_401_pgrst301(stack: LocalStack, jobs):
    forged = jwt.encode(
        {"role": "service_role", "exp": int(time.time()) + 60},
        "another-secret-that-is-long-enough-32",
        algorithm="HS256",
    )
    response = httpx.get(stack.rest_url + "/jobs", headers=key_headers(forged))
    assert (response.status_code, response.json()["code"]) == (401, "PGRST301")


@pytest.mark.parametrize(
    "token", ["abc", "a.b", "a.b.c", "eyJhbGciOiJub25lIn0.eyJyb2xlIjoic2VydmljZV9yb2xlIn0."]
)
def test_malformed_or_unsigned_jwt_is_401(stack: LocalStack, jobs, token: str):
    response = httpx.get(stack.rest_url + "/jobs", headers={"Authorization": f"Bearer {token}"})
    assert (response.status_code, response.json()["code"]) == (401, "PGRST301")


def test_jwt_for_unknown_role_is_401(stack: LocalStack, jobs):
    token = jwt.encode({"role": "superhero"}, stack.jwt_secret, algorithm="HS256")
    response = httpx.get(stack.rest_url + "/jobs", headers=key_headers(token))
    assert (response.status_code, response.json()["code"]) == (401, "22023")


def test_secret_key_acts_as_service_role(stack: LocalStack, jobs):
    response = httpx.get(stack.rest_url + "/jobs", headers=key_headers(stack.secret_key))
    assert response.status_code == 200
    assert len(response.json()) == 3


def test_unknown_sb_key_is_kong_style_401(stack: LocalStack, jobs):
    response = httpx.get(stack.rest_url + "/jobs", headers=key_headers("sb_secret_wrong"))
    assert response.status_code == 401
    assert response.json()["code"] is None
    assert response.json()["message"] == "Invalid API key"


def test_legacy_jwt_apikey_alone_is_used(stack: LocalStack, jobs):
    response = httpx.get(stack.rest_url + "/jobs", headers={"apikey": stack.service_role_key})
    assert response.status_code == 200


def test_set_config_block_as_postgrest_sends_it(stack: LocalStack, db):
    response = httpx.get(
        stack.rest_url + "/rpc/e2e_whoami",
        headers={
            **key_headers(stack.service_role_key),
            "Prefer": "timezone=Asia/Tokyo",
            "Cookie": "a=1",
        },
    )
    info = response.json()
    assert (info["user"], info["role"]) == ("service_role", "service_role")
    assert (info["method"], info["path"]) == ("GET", "/rpc/e2e_whoami")
    assert info["headers"]["prefer"] == "timezone=Asia/Tokyo"
    assert info["cookies"] == {"a": "1"}
    assert info["search_path"] == '"public", "extensions"'
    assert info["read_only"] == "on"
    assert info["timezone"] == "Asia/Tokyo"
    assert info["jwt"]["role"] == "service_role"


def test_user_claims_and_role_settings(stack: LocalStack, db):
    sub = uuid.uuid4()
    token = stack.mint_user_jwt(TENANT_A, sub)
    info = httpx.post(
        stack.rest_url + "/rpc/e2e_whoami", json={}, headers=user_headers(stack, token)
    ).json()
    assert (info["user"], info["uid"]) == ("authenticated", str(sub))
    assert info["jwt"]["app_metadata"]["tenant_id"] == str(TENANT_A)
    assert info["statement_timeout"] == "8s"
    anon = httpx.post(stack.rest_url + "/rpc/e2e_whoami", json={}).json()
    assert (anon["user"], anon["statement_timeout"], anon["jwt"]) == (
        "anon",
        "3s",
        {"role": "anon"},
    )
