"""Prepared statements in the gateway's pool survive pipelines aborted before their Parse.

The gateway prepares statements run five times on a connection. A request whose settings
block fails (here: a JWT naming a role that does not exist) aborts the pipeline before the
call's own statement is parsed; the next call of that statement on the same (only)
connection must still work, not fail with 26000 (prepared statement does not exist).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import psycopg
import pytest

from supabase_jobs.local import Gateway, LocalStack
from supabase_jobs.local._stack import authenticator_dsn

from ._helpers import key_headers

pytestmark = pytest.mark.e2e

CLAIM = {"p_worker_id": "prepared-test", "p_limit": 1, "p_types": ["prepared_test_none"]}


@pytest.fixture
def gateway(stack: LocalStack, db: psycopg.Connection[Any]) -> Iterator[Gateway]:
    """A gateway with ONE pooled connection, so every request reuses its preparations."""
    with Gateway(
        authenticator_dsn(stack.database_url), stack.jwt_secret, pool_min_size=1, pool_max_size=1
    ) as gw:
        yield gw


def _claim(http: httpx.Client, headers: dict[str, str]) -> httpx.Response:
    return http.post("/rpc/sj_claim_v1", json=CLAIM, headers=headers)


def test_aborted_pipelines_do_not_break_prepared_statements(gateway: Gateway, stack: LocalStack):
    service = key_headers(stack.service_role_key)
    now = int(time.time())
    bad_token = jwt.encode(
        {"role": "no_such_role_prepared", "iat": now, "exp": now + 600},
        stack.jwt_secret,
        algorithm="HS256",
    )
    bad = {"apikey": stack.service_role_key, "Authorization": f"Bearer {bad_token}"}
    with httpx.Client(base_url=gateway.rest_url, timeout=30) as http:
        for _ in range(8):  # past the threshold: the call and the settings block are prepared
            response = _claim(http, service)
            assert response.status_code == 200, response.text
            assert response.json() == []
        for _ in range(3):
            refused = _claim(http, bad)
            assert refused.status_code in (400, 401, 403), refused.text
            again = _claim(http, service)
            assert again.status_code == 200, again.text
            assert again.json() == []
        # A failure inside the prepared call itself (a bad argument type) is harmless too.
        broken = http.post("/rpc/sj_claim_v1", json={**CLAIM, "p_limit": "many"}, headers=service)
        assert broken.status_code == 400, broken.text
        last = _claim(http, service)
        assert last.status_code == 200, last.text
        # A check refused before COMMIT (one object asked for, none returned) rolls back.
        single = {**service, "Accept": "application/vnd.pgrst.object+json"}
        for _ in range(7):
            assert _claim(http, single).status_code == 406
            after = _claim(http, service)
            assert after.status_code == 200, after.text
