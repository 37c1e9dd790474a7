"""Adversarial requests: SQL injection through every request part, hostile JWTs, odd input.

Each injection case carries SQL that would drop or empty ``e2e_nopk`` if any part of the
request reached SQL as text; the final check proves the table and its row survived every
case. Every answer must be PostgREST-shaped (a JSON object with ``code``), never a 500.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import jwt
import psycopg
import pytest

from supabase_jobs.local import LocalStack

pytestmark = pytest.mark.e2e

DROP = 'x"; drop table public.e2e_nopk; --'
DELETE = "x'); delete from public.e2e_nopk; --"
PARENT = "00000000-0000-4000-8000-0000000000a1"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _forged(header: dict[str, Any], claims: dict[str, Any], secret: str | None) -> str:
    """A JWT with any header, signed with HMAC-SHA256 over ``secret`` (or unsigned)."""
    signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
    if secret is None:
        return signing_input + "."
    mac = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(mac)


@pytest.fixture
def seeded(http: httpx.Client, db: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    db.execute("insert into public.e2e_nopk values (1, 'canary')")
    db.execute("insert into public.e2e_child (label, meta) values ('c', '{\"k\": 1}')")
    return db


# (method, path, query, extra headers, JSON body, expected status, expected code)
INJECTIONS: list[tuple[str, str, Any, dict[str, str], Any, int, str | None]] = [
    ("GET", f"/e2e_nopk{DROP}", None, {}, None, 404, "PGRST205"),
    ("POST", f"/rpc/e2e_add{DROP}", None, {}, {"a": 1}, 404, "PGRST202"),
    ("GET", "/e2e_nopk", {"select": f'a,"{DROP}"'}, {}, None, 400, "42703"),
    (
        "GET",
        "/e2e_nopk",
        {"select": "a::text);drop table public.e2e_nopk;--"},
        {},
        None,
        400,
        "PGRST100",
    ),
    # A dot in a filter's name means an embedded resource to PostgREST.
    ("GET", "/e2e_nopk", {f"b{DROP}": "eq.1"}, {}, None, 400, "PGRST200"),
    ("GET", "/e2e_nopk", {'b"; delete from e2e_nopk; --': "eq.1"}, {}, None, 400, "42703"),
    ("GET", "/e2e_nopk", {"b": f"eq.{DELETE}"}, {}, None, 200, None),
    ("GET", "/e2e_nopk", {"b": f"like.*{DELETE}*"}, {}, None, 200, None),
    (
        "GET",
        "/e2e_nopk",
        # An unquoted list element ends at ")" (PostgREST's grammar): the rest is garbage.
        {"b": f'in.("{DROP.replace(chr(34), chr(92) + chr(34))}",{DELETE})'},
        {},
        None,
        400,
        "PGRST100",
    ),
    ("GET", "/e2e_nopk", {"or": f'(b.eq."{DELETE}",a.is.null)'}, {}, None, 200, None),
    ("GET", "/e2e_nopk", {"b": f"not.eq.{DELETE}", "a": "eq.2"}, {}, None, 200, None),
    ("GET", "/e2e_nopk", {"order": f"b{DROP}.desc"}, {}, None, 400, "42703"),
    ("GET", "/e2e_nopk", {"limit": "1;drop table public.e2e_nopk"}, {}, None, 400, "PGRST100"),
    ("GET", "/e2e_child", {"select": f"meta->>{DELETE}"}, {}, None, 400, "PGRST100"),
    ("GET", "/e2e_child", {f"meta->>{DELETE}": "eq.1"}, {}, None, 200, None),
    (
        "POST",
        "/e2e_nopk",
        {"on_conflict": f"a{DROP}"},
        {"Prefer": "resolution=merge-duplicates"},
        {"a": 2},
        400,
        "PGRST204",
    ),
    ("POST", "/e2e_nopk", {"columns": f'"a","{DROP}"'}, {}, [{"a": 2}], 400, "PGRST204"),
    ("POST", "/e2e_nopk", None, {}, {"a": 2, DROP: 1}, 400, "PGRST204"),
    ("PATCH", "/e2e_nopk", {"a": "eq.1"}, {}, {DROP: "y"}, 400, "PGRST204"),
    ("POST", "/rpc/e2e_add", None, {}, {"a": 1, DROP: 2}, 404, "PGRST202"),
    ("GET", "/rpc/e2e_add", {"a": DELETE}, {}, None, 400, "22P02"),
    ("POST", "/rpc/e2e_echo", None, {}, {DROP: DELETE}, 200, None),
    ("GET", "/e2e_nopk", None, {"Prefer": f"timezone=UTC{DELETE}"}, None, 200, None),
    (
        "GET",
        "/e2e_nopk",
        None,
        {"Prefer": f"handling=strict,count={DELETE}"},
        None,
        400,
        "PGRST122",
    ),
    ("GET", "/e2e_nopk", None, {"Accept-Profile": f"public{DROP}"}, None, 406, "PGRST106"),
    ("POST", "/e2e_nopk", None, {"Content-Profile": f"public{DROP}"}, {"a": 2}, 406, "PGRST106"),
    ("GET", "/rpc/e2e_whoami", None, {"X-Evil": DROP, "Cookie": f"c={DELETE}"}, None, 200, None),
]


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "body", "status", "code"),
    INJECTIONS,
    ids=[f"{i}-{case[0]}-{case[1][:20]}" for i, case in enumerate(INJECTIONS)],
)
def test_injection_is_inert(
    http: httpx.Client,
    seeded: psycopg.Connection[Any],
    method: str,
    path: str,
    query: Any,
    headers: dict[str, str],
    body: Any,
    status: int,
    code: str | None,
):
    response = http.request(method, path, params=query, headers=headers, json=body)
    assert response.status_code == status, response.text
    if code is not None:
        assert response.json()["code"] == code
    rows = seeded.execute("select a, b from public.e2e_nopk order by a").fetchall()
    assert rows == [(1, "canary")]


def test_injected_names_come_back_verbatim_as_keys(http: httpx.Client, seeded):
    """Aliases and JSON-path keys are identifiers/values, so they round-trip unchanged."""
    response = http.get("/e2e_nopk", params={"select": f"{DROP.replace(':', '')}:b"})
    assert response.json() == [{DROP.replace(":", ""): "canary"}]
    response = http.post("/rpc/e2e_echo", json={DROP: DELETE})
    assert response.json() == {DROP: DELETE}


def _token(stack: LocalStack, claims: dict[str, Any], algorithm: str = "HS256") -> str:
    return jwt.encode(claims, stack.jwt_secret, algorithm=algorithm)


def _jwt_cases(stack: LocalStack) -> list[tuple[str, str, int, str]]:
    """(name, token, expected status, expected code or current_user on success)."""
    now = int(time.time())
    future = now + 600
    service = {"role": "service_role", "exp": future}
    return [
        ("alg-none", _forged({"alg": "none", "typ": "JWT"}, service, None), 401, "PGRST301"),
        ("alg-NONE", _forged({"alg": "NONE", "typ": "JWT"}, service, None), 401, "PGRST301"),
        # RS256 header, HMAC-signed with the shared secret (key confusion).
        (
            "rs256-hmac",
            _forged({"alg": "RS256", "typ": "JWT"}, service, stack.jwt_secret),
            401,
            "PGRST301",
        ),
        ("hs512", _token(stack, service, "HS512"), 401, "PGRST301"),
        ("wrong-secret", jwt.encode(service, "y" * 64, algorithm="HS256"), 401, "PGRST301"),
        ("tampered", _token(stack, {"role": "anon", "exp": future})[:-2] + "AA", 401, "PGRST301"),
        ("expired", _token(stack, {"role": "service_role", "exp": now - 3600}), 401, "PGRST303"),
        ("not-yet-valid", _token(stack, {**service, "nbf": now + 3600}), 401, "PGRST303"),
        (
            "exp-not-a-number",
            _token(stack, {"role": "service_role", "exp": "never"}),
            401,
            "PGRST301",
        ),
        ("two-parts", "abc.def", 401, "PGRST301"),
        ("role-postgres", _token(stack, {"role": "postgres", "exp": future}), 403, "42501"),
        (
            "role-pg_read_all_data",
            _token(stack, {"role": "pg_read_all_data", "exp": future}),
            403,
            "42501",
        ),
        ("role-missing", _token(stack, {"role": "no_such_role", "exp": future}), 401, "22023"),
        (
            "role-not-a-string",
            _token(stack, {"role": ["service_role"], "exp": future}),
            401,
            "PGRST301",
        ),
        (
            "role-sql",
            _token(stack, {"role": "anon'; set role postgres; --", "exp": future}),
            401,
            "22023",
        ),
        # No exp at all is accepted, as PostgREST does (the claim is optional there).
        ("no-exp", _token(stack, {"role": "service_role"}), 200, "service_role"),
        ("no-role", _token(stack, {"sub": PARENT, "exp": future}), 200, "anon"),
    ]


def test_hostile_jwts(stack: LocalStack, http: httpx.Client):
    for name, token, status, expected in _jwt_cases(stack):
        response = http.get("/rpc/e2e_whoami", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == status, (name, response.text)
        if status == 200:
            assert response.json()["user"] == expected, name
        else:
            assert response.json()["code"] == expected, (name, response.text)
            assert set(response.json()) == {"code", "details", "hint", "message"}


def test_authenticator_can_only_become_the_api_roles(db: psycopg.Connection[Any]):
    """What keeps ``role: postgres`` out: authenticator is a member of the three API roles only."""
    row = db.execute(
        "select array_agg(r.rolname::text order by r.rolname) from pg_auth_members m"
        " join pg_roles r on r.oid = m.roleid join pg_roles u on u.oid = m.member"
        " where u.rolname = 'authenticator'"
    ).fetchone()
    assert row == (["anon", "authenticated", "service_role"],)
    flags = db.execute(
        "select rolsuper, rolinherit, rolbypassrls, rolcreaterole from pg_roles"
        " where rolname = 'authenticator'"
    ).fetchone()
    assert flags == (False, False, False, False)


def test_sb_keys(stack: LocalStack, anon_http: httpx.Client):
    cases = [
        ({"apikey": stack.secret_key, "Authorization": f"Bearer {stack.secret_key}"}, 200),
        ({"apikey": stack.publishable_key}, 200),
        ({"apikey": "sb_secret_" + "A" * 32, "Authorization": "Bearer sb_secret_" + "A" * 32}, 401),
        # A real secret key in Authorization does not help when apikey is the publishable one.
        ({"apikey": stack.publishable_key, "Authorization": f"Bearer {stack.secret_key}"}, 200),
    ]
    users = []
    for headers, status in cases:
        response = anon_http.get("/rpc/e2e_whoami", headers=headers)
        assert response.status_code == status, response.text
        users.append(response.json().get("user") if status == 200 else response.json()["message"])
    assert users == ["service_role", "anon", "Invalid API key", "anon"]


@pytest.mark.parametrize(
    ("query", "prefer"),
    [
        ({"limit": "\u00b2"}, None),  # "²".isdigit() is True, int("²") fails
        ({"offset": "\u00b3"}, None),
        ({"limit": "\u0663"}, None),  # Arabic-Indic 3: not an ASCII digit for PostgREST either
        (None, b"handling=strict,max-affected=\xb2"),
    ],
)
def test_non_ascii_digits_are_a_parse_error(http: httpx.Client, query, prefer):
    headers = {"Prefer": prefer} if prefer is not None else {}
    response = http.get("/e2e_nopk", params=query, headers=headers)
    assert response.status_code == 400
    assert response.json()["code"] in ("PGRST100", "PGRST122")


@pytest.mark.parametrize("path", ["/e2e_nopk", "/rpc/e2e_add", "/rpc/e2e_echo"])
def test_absurdly_nested_json_is_invalid_body_not_500(http: httpx.Client, path: str):
    body = "[" * 100_000 + "]" * 100_000
    response = http.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == "PGRST102"


@pytest.mark.parametrize(
    ("detail", "details"),
    [
        ('{"status":1000,"headers":{}}', "Invalid JSON value for DETAIL"),
        ('{"status":99,"headers":{}}', "Invalid JSON value for DETAIL"),
        (
            '{"status":400,"headers":{"X-A":"a\\r\\nSet-Cookie: x=1"}}',
            "Invalid JSON value for DETAIL",
        ),
        ('{"status":400,"headers":{"X A":"b"}}', "Invalid JSON value for DETAIL"),
        ('{"status":400}', "Invalid JSON value for DETAIL"),
        ('{"status":"400","headers":{}}', "Invalid JSON value for DETAIL"),
        ("not json", "Invalid JSON value for DETAIL"),
    ],
)
def test_raise_pgrst_with_unusable_detail_is_pgrst121(http: httpx.Client, detail, details):
    response = http.post("/rpc/e2e_pgrst_detail", json={"p_detail": detail})
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "PGRST121"
    assert body["message"] == "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error"
    assert body["details"].startswith(details)
    assert "set-cookie" not in response.headers


def test_raise_pgrst_without_detail_is_pgrst121(http: httpx.Client):
    response = http.post("/rpc/e2e_pgrst_no_detail", json={})
    assert response.status_code == 500
    assert response.json()["details"] == "DETAIL is missing in the RAISE statement"


def test_raise_pgrst_valid_detail_still_works(http: httpx.Client):
    detail = '{"status":409,"headers":{"X-Why":"because"}}'
    response = http.post("/rpc/e2e_pgrst_detail", json={"p_detail": detail})
    assert response.status_code == 409
    assert response.headers["x-why"] == "because"
    assert response.json()["code"] == "E2E2"


def test_cached_rpc_plans_bind_each_request_body(http: httpx.Client):
    """Plain rpc POSTs reuse their SQL; every call must still see its own arguments."""
    sums = [http.post("/rpc/e2e_add", json={"a": i, "b": 10}).json() for i in range(5)]
    assert sums == [10, 11, 12, 13, 14]
    assert http.post("/rpc/e2e_add", json={"a": 5}).json() == 6  # other keys: other plan
    assert http.post("/rpc/e2e_over", json={"y": 1}).json() == "y"
    assert http.post("/rpc/e2e_over", json={"x": 1}).status_code == 300  # ambiguous, PGRST203
    counted = http.post("/rpc/e2e_series", json={"n": 3}, headers={"Prefer": "count=exact"})
    assert counted.headers["content-range"] == "0-2/3"
    assert http.post("/rpc/e2e_series", json={"n": 2}).json() == [1, 2]
