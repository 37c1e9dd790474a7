"""Limits anyone holding the anon key can reach: body size, permission before body, parser
depth and width, NUL characters.

Every refusal here must be a PostgREST-shaped 4xx: never a 500 (a client chose the input),
never a 503 (clients retry those), and never a traceback in the log.
"""

from __future__ import annotations

import json
import logging
import socket
import tracemalloc
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import httpx
import psycopg
import pytest
from supabase import ClientOptions, create_client

from supabase_jobs import JobsClient
from supabase_jobs.local import Gateway, GatewayConfig, LocalStack
from supabase_jobs.local._gateway._errors import GatewayError
from supabase_jobs.local._gateway._limits import (
    BODY_LIMIT_ENV,
    DEFAULT_MAX_BODY_BYTES,
    MAX_PARAMS,
    MAX_TARGET_COLUMNS,
)
from supabase_jobs.local._gateway._sql import Params
from supabase_jobs.local._stack import authenticator_dsn

pytestmark = pytest.mark.e2e

ANON_BODY_BYTES = 29_000_000
FIRST_CHUNK = 64 * 1024


def _raw_post(
    host: str,
    port: int,
    path: str,
    headers: dict[str, str],
    declared: int,
    first_chunk: bytes,
) -> tuple[int, dict[str, str], bytes, bool]:
    """POST announcing ``declared`` body bytes but sending only ``first_chunk``, then wait.

    Returns ``(status, headers, body, closed)``: the answer the gateway gave while most of
    the body was still unsent (a gateway that reads the body first never answers, and the
    socket timeout fails the test), and whether it then closed the connection rather than
    wait for (and read) the rest.
    """
    lines = [f"POST {path} HTTP/1.1", "Host: gateway", f"Content-Length: {declared}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    with socket.create_connection((host, port), timeout=60) as sock:
        sock.sendall(head + first_chunk)
        raw = b""
        while b"\r\n\r\n" not in raw:
            data = sock.recv(65536)
            assert data, "the gateway closed the connection without answering"
            raw += data
        header_blob, _, rest = raw.partition(b"\r\n\r\n")
        status_line, *header_lines = header_blob.decode("latin-1").split("\r\n")
        found = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            found[name.strip().lower()] = value.strip()
        length = int(found.get("content-length", "0"))
        while len(rest) < length:
            data = sock.recv(65536)
            assert data
            rest += data
        closed = sock.recv(65536) == b""
    return int(status_line.split()[1]), found, rest[:length], closed


def _raw_get(host: str, port: int, target: str, headers: dict[str, str]) -> tuple[int, Any]:
    """GET with a request target longer than httpx allows (it caps URLs at 64 KiB)."""
    lines = [f"GET {target} HTTP/1.1", "Host: gateway", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection((host, port), timeout=60) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        raw = b""
        while data := sock.recv(65536):
            raw += data
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def _no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert bad == []


def _is_postgrest_error(response: httpx.Response, status: int, code: str | None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "details", "hint"}
    if code is not None:
        assert body["code"] == code


# -- permission before body ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/rest/v1/jobs", "table jobs"), ("/rest/v1/rpc/sj_claim_v1", "function sj_claim_v1")],
)
def test_anon_29mb_post_is_refused_before_its_body_is_read(
    stack: LocalStack, db: psycopg.Connection[Any], path: str, kind: str
):
    headers = {"apikey": stack.anon_key, "Content-Type": "application/json"}
    status, found, body, closed = _raw_post(
        stack.gateway.host,
        stack.gateway.port,
        path,
        headers,
        ANON_BODY_BYTES,
        b"[" + b" " * (FIRST_CHUNK - 1),
    )
    # What PostgREST answers the anon role for a missing privilege (42501 -> 401) ...
    assert status == 401
    error = json.loads(body)
    assert error["code"] == "42501"
    assert error["message"] == f"permission denied for {kind}"
    # ... answered with 28.9 MB unsent, and the connection closed instead of drained.
    assert found["connection"] == "close"
    assert closed
    assert db.execute("select count(*) from public.jobs").fetchone() == (0,)


def test_user_without_grant_is_403_before_body(stack: LocalStack, db: psycopg.Connection[Any]):
    token = stack.mint_user_jwt("00000000-0000-4000-8000-00000000b001")
    headers = {
        "apikey": stack.anon_key,
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
    }
    status, _, body, _ = _raw_post(
        stack.gateway.host, stack.gateway.port, "/rest/v1/jobs", headers, 10**7, b"["
    )
    assert (status, json.loads(body)["code"]) == (403, "42501")


def test_unknown_table_is_404_before_body(stack: LocalStack, db: psycopg.Connection[Any]):
    headers = {"apikey": stack.service_role_key, "Content-Type": "application/json"}
    status, _, body, _ = _raw_post(
        stack.gateway.host, stack.gateway.port, "/rest/v1/nope", headers, 10**7, b"["
    )
    assert (status, json.loads(body)["code"]) == (404, "PGRST205")


def test_a_grant_made_after_start_is_honoured_without_reload(
    stack: LocalStack, db: psycopg.Connection[Any], anon_http: httpx.Client
):
    """The cached "denied" is only a hint: the database is asked before refusing."""
    db.execute("grant insert on public.e2e_nopk to anon")
    try:
        response = anon_http.post(
            "/e2e_nopk", json={"a": 1, "b": "x"}, headers={"apikey": stack.anon_key}
        )
        assert response.status_code == 201, response.text
    finally:
        db.execute("revoke insert on public.e2e_nopk from anon")


# -- body size ----------------------------------------------------------------------------


def test_default_limit_holds_the_largest_dispatch_many():
    # 10,000 rows of ~700 bytes of columns plus a 4 KiB payload each.
    assert DEFAULT_MAX_BODY_BYTES >= 10_000 * (700 + 4096)
    assert GatewayConfig("dsn", "secret").max_body_bytes == DEFAULT_MAX_BODY_BYTES


def test_default_limit_holds_what_the_sdk_sends_for_10000_jobs(stack: LocalStack, db):
    """Measure the SDK's real ``dispatch_many`` body per job, with 4 KiB payloads and the
    longest idempotency keys, through the gateway; 10,000 of those must fit the default."""
    sizes: list[int] = []

    def record(request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path.endswith("/jobs"):
            sizes.append(len(request.content))

    jobs = [
        {
            "tenant_id": "1521f0ae-4db7-4110-a993-c494535d9b00",
            "type": "test_job",
            "payload": {"text": "x" * 4000, "n": i},
            "idempotency_key": f"{i:0255d}",
            "queue": "q" * 63,
            "priority": -100,
            "max_attempts": 1000,
            "run_at": datetime(2030, 1, 1, tzinfo=timezone.utc),
        }
        for i in range(100)
    ]
    with httpx.Client(timeout=60, event_hooks={"request": [record]}) as http_client:
        options = ClientOptions(httpx_client=http_client, postgrest_client_retry=False)
        client = JobsClient(create_client(stack.url, stack.service_role_key, options))
        assert len(client.dispatch_many(jobs)) == 100
    assert len(sizes) == 1
    per_job = sizes[0] / len(jobs)
    assert per_job > 4096
    assert 10_000 * per_job <= DEFAULT_MAX_BODY_BYTES, per_job


def test_limit_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(BODY_LIMIT_ENV, "12345")
    assert GatewayConfig("dsn", "secret").max_body_bytes == 12345
    assert GatewayConfig("dsn", "secret", max_body_bytes=7).max_body_bytes == 7
    monkeypatch.setenv(BODY_LIMIT_ENV, "lots")
    with pytest.raises(ValueError, match=BODY_LIMIT_ENV):
        GatewayConfig("dsn", "secret")


def test_declared_oversized_service_role_post_is_413_unread(
    stack: LocalStack, db: psycopg.Connection[Any]
):
    key = stack.service_role_key
    headers = {"apikey": key, "Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    limit = stack.gateway.config.max_body_bytes
    status, found, body, closed = _raw_post(
        stack.gateway.host, stack.gateway.port, "/rest/v1/jobs", headers, limit + 1, b"["
    )
    assert status == 413
    assert json.loads(body) == {
        "code": "413",
        "details": f"The request body exceeds {limit} bytes.",
        "hint": None,
        "message": "Payload Too Large",
    }
    assert closed and found["connection"] == "close"


@pytest.fixture
def small_gateway(stack: LocalStack, db: psycopg.Connection[Any]) -> Iterator[Gateway]:
    """A gateway whose body limit (set through LocalStack-style options) is 256 KiB."""
    with Gateway(
        authenticator_dsn(stack.database_url),
        stack.jwt_secret,
        api_keys=stack.keys.api_keys(),
        max_body_bytes=256 * 1024,
    ) as gw:
        yield gw


def test_streamed_oversized_body_is_413_after_at_most_the_limit(
    small_gateway: Gateway, stack: LocalStack, db: psycopg.Connection[Any]
):
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b'[{"a":1,"b":"'
        for _ in range(64):  # 4 MiB in all, no Content-Length (chunked)
            sent += 65536
            yield b"x" * 65536
        yield b'"}]'

    key = stack.service_role_key
    headers = {"apikey": key, "Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    with httpx.Client(timeout=60) as client:
        try:
            response = client.post(
                small_gateway.rest_url + "/e2e_nopk", content=chunks(), headers=headers
            )
        except httpx.TransportError:
            pytest.fail("the gateway dropped the connection instead of answering 413")
    _is_postgrest_error(response, 413, "413")
    assert db.execute("select count(*) from public.e2e_nopk").fetchone() == (0,)


def test_body_under_the_limit_still_works(small_gateway: Gateway, stack: LocalStack, db):
    key = stack.service_role_key
    headers = {"apikey": key, "Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=small_gateway.rest_url, headers=headers, timeout=60) as client:
        response = client.post("/e2e_nopk", json=[{"a": i, "b": "y" * 100} for i in range(1000)])
    assert response.status_code == 201, response.text
    assert db.execute("select count(*) from public.e2e_nopk").fetchone() == (1000,)


def _service(stack: LocalStack) -> dict[str, str]:
    key = stack.service_role_key
    return {"apikey": key, "Authorization": f"Bearer {key}"}


def test_overlong_query_string_is_414(stack: LocalStack, db):
    limit = stack.gateway.config.max_query_bytes
    target = "/rest/v1/e2e_parent?name=eq." + "x" * limit
    assert len(target) < 65_000  # under uvicorn's own request-line limit
    status, body = _raw_get(stack.gateway.host, stack.gateway.port, target, _service(stack))
    assert (status, body["code"], body["message"]) == (414, "414", "URI Too Long")


# -- depth and width ----------------------------------------------------------------------


def _nested_logic(depth: int) -> str:
    inner = "id.eq.1"
    for level in range(depth - 1):
        inner = f"{'and' if level % 2 else 'or'}({inner},id.eq.2)"
    return f"({inner},id.eq.3)"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("select=meta" + "->a" * 400, "PGRST100"),
        ("meta" + "->a" * 400 + "=eq.1", "PGRST100"),
        ("order=meta" + "->a" * 400, "PGRST100"),
        ("meta" + "->>a" * 2000 + "=eq.1", "PGRST100"),
        ("or=" + _nested_logic(200), "PGRST100"),
        ("and=" + _nested_logic(1000), "PGRST100"),
        ("select=" + ",".join(["id"] * (MAX_TARGET_COLUMNS + 1)), "54011"),
        ("select=" + ",".join(["id"] * 5000), "54011"),
        ("order=" + ",".join(["id"] * 5000), "54011"),
        # Each list fits; together they exceed Postgres's target list (ORDER BY adds entries).
        (
            "select="
            + ",".join(["id"] * 1000)
            + "&order="
            + ",".join(f"meta->k{i}" for i in range(1000)),
            "54011",
        ),
    ],
)
def test_client_chosen_depth_and_width_are_400(
    http: httpx.Client, caplog: pytest.LogCaptureFixture, query: str, code: str
):
    caplog.set_level(logging.WARNING)
    response = http.get("/e2e_child?" + query)
    _is_postgrest_error(response, 400, code)
    _no_tracebacks(caplog)


def test_deep_filters_below_the_bounds_still_work(http: httpx.Client, db):
    db.execute(
        """insert into public.e2e_child (label, meta) values ('deep', '{"a":{"a":{"a":1}}}')"""
    )
    response = http.get("/e2e_child", params={"select": "label", "meta->a->a->>a": "eq.1"})
    assert response.json() == [{"label": "deep"}]
    response = http.get("/e2e_child", params={"select": "label", "or": _nested_logic(60)})
    assert response.status_code == 200, response.text


def test_too_many_bound_values_is_400_not_503():
    """libpq binds at most 65,535 values; psycopg would fail client-side (a 503)."""
    params = Params()
    for i in range(MAX_PARAMS):
        params.add(i)
    with pytest.raises(GatewayError) as caught:
        params.add(0)
    assert (caught.value.status, caught.value.code) == (400, "PGRST100")


def test_deep_json_body_is_400_not_500(http: httpx.Client, caplog):
    """Nesting Postgres cannot parse (stack depth, 54001) reaches it raw through ``columns=``."""
    caplog.set_level(logging.WARNING)
    deep = "[" * 200_000 + "]" * 200_000
    response = http.post(
        "/e2e_child?columns=label,meta",
        content='[{"label":"x","meta":' + deep + "}]",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    _no_tracebacks(caplog)


# -- NUL characters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "label=eq.a%00b",
        "label=in.(a,b%00)",
        "or=(label.eq.a%00,id.eq.1)",
        "and=(label.eq.x,or(label.eq.%00))",
        "meta->a%00=eq.1",
        "select=label,meta->%00",
        "order=label%00",
        "label%00=eq.1",
    ],
)
def test_nul_in_the_query_is_400_not_503(http: httpx.Client, caplog, query: str):
    caplog.set_level(logging.WARNING)
    response = http.get("/e2e_child?" + query)
    _is_postgrest_error(response, 400, "22021")
    _no_tracebacks(caplog)


def test_nul_in_rpc_arguments_is_400(http: httpx.Client, caplog):
    caplog.set_level(logging.WARNING)
    response = http.get("/rpc/e2e_raise?p_code=P0001&p_message=a%00b")
    _is_postgrest_error(response, 400, "22021")
    # JSON escapes reach Postgres, which refuses \u0000 in text itself (22P05).
    response = http.post("/rpc/e2e_raise", json={"p_code": "P0001", "p_message": "a\x00b"})
    _is_postgrest_error(response, 400, None)
    assert response.json()["code"].startswith("22")
    # A raw NUL byte is not JSON at all.
    response = http.post(
        "/rpc/e2e_raise",
        content=b'{"p_code":"P0001","p_message":"a\x00b"}',
        headers={"Content-Type": "application/json"},
    )
    _is_postgrest_error(response, 400, None)
    _no_tracebacks(caplog)


def test_raw_nul_in_a_columns_body_is_400_not_503(http: httpx.Client, caplog):
    caplog.set_level(logging.WARNING)
    response = http.post(
        "/e2e_nopk?columns=a,b",
        content=b'[{"a":1,"b":"x\x00y"}]',
        headers={"Content-Type": "application/json"},
    )
    _is_postgrest_error(response, 400, "22021")
    _no_tracebacks(caplog)


# -- numbers Python will not convert (more than 4,300 digits) -----------------------------

HUGE = "9" * 5000


@pytest.mark.parametrize(
    ("query", "headers", "status"),
    [
        (f"limit={HUGE}", {}, 400),
        (f"offset={HUGE}", {}, 400),
        (f"select=meta->{HUGE}", {}, 200),
        (f"meta->>{HUGE}=eq.1", {}, 200),
        ("select=id", {"Range": f"0-{HUGE}"}, 200),
        ("select=id", {"Range": f"{HUGE}-"}, 200),
        ("select=id", {"Prefer": f"count=exact,max-affected={HUGE}"}, 200),
    ],
)
def test_huge_numbers_are_never_a_500(
    http: httpx.Client, caplog: pytest.LogCaptureFixture, query: str, headers, status: int
):
    caplog.set_level(logging.WARNING)
    response = http.get("/e2e_child?" + query, headers=headers)
    assert response.status_code == status, response.text
    _no_tracebacks(caplog)


def test_huge_content_length_is_413(stack: LocalStack, db: psycopg.Connection[Any], caplog):
    caplog.set_level(logging.WARNING)
    headers = {**_service(stack), "Content-Type": "application/json"}
    lines = ["POST /rest/v1/e2e_nopk HTTP/1.1", "Host: gateway", f"Content-Length: {HUGE}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection((stack.gateway.host, stack.gateway.port), timeout=60) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n[").encode())
        raw = b""
        while data := sock.recv(65536):
            raw += data
    # uvicorn's parser may refuse such a header itself (a plain 400); the app never sees
    # a number it cannot handle.
    assert raw.split()[1] in (b"400", b"413")
    _no_tracebacks(caplog)


# -- what a body costs once read ----------------------------------------------------------


def test_many_small_rows_cost_a_few_times_their_size_not_twenty(http: httpx.Client, db):
    """The planner keeps the keys of each object, not a dict per row (traced in-process)."""
    rows = [{"a": i % 100, "b": "x"} for i in range(300_000)]
    body = json.dumps(rows, separators=(",", ":")).encode()  # ~5.6 MB, ~19 bytes a row
    tracemalloc.start()
    try:
        response = http.post(
            "/e2e_nopk", content=body, headers={"Content-Type": "application/json"}
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status_code == 201, response.text
    assert db.execute("select count(*) from public.e2e_nopk").fetchone() == (300_000,)
    # The body is held a few times over (bytes, text, the bound parameter); a dict per row
    # would add ~180 bytes for each 19-byte row, about 10x the body on its own.
    assert peak < 6 * len(body), (peak, len(body))
