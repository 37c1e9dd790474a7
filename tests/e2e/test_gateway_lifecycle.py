"""The gateway under pressure: pool exhaustion, clients that vanish, stopping mid-request.

Each test runs its own one-connection gateway against the session database, and parks a
request inside Postgres on an advisory lock the test holds (``e2e_wait_lock``): the request
is then provably in flight, with no sleeps or timing guesses.
"""

from __future__ import annotations

import concurrent.futures
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from supabase_jobs.local import Gateway, LocalStack
from supabase_jobs.local._stack import authenticator_dsn

from ._helpers import key_headers

pytestmark = pytest.mark.e2e

LOCK = 4242


@pytest.fixture
def gateway(stack: LocalStack, db: psycopg.Connection[Any]) -> Iterator[Gateway]:
    """A gateway with ONE pooled connection, a short pool wait and a short shutdown grace."""
    gw = Gateway(
        authenticator_dsn(stack.database_url),
        stack.jwt_secret,
        pool_min_size=1,
        pool_max_size=1,
        pool_timeout=0.5,
        shutdown_timeout=1,
    )
    with gw:
        yield gw


@pytest.fixture
def lock(stack: LocalStack) -> Iterator[psycopg.Connection[Any]]:
    """Hold advisory lock 4242 (released when the test calls ``unlock`` or ends)."""
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(%s)", [LOCK])
        yield conn
        conn.execute("select pg_advisory_unlock_all()")


def unlock(conn: psycopg.Connection[Any]) -> None:
    conn.execute("select pg_advisory_unlock_all()")


def wait_until_parked(db: psycopg.Connection[Any]) -> None:
    """Block until a gateway backend waits on the advisory lock."""
    for _ in range(3000):
        row = db.execute(
            "select count(*) from pg_stat_activity"
            " where usename = 'authenticator' and wait_event_type = 'Lock'"
        ).fetchone()
        if row and row[0]:
            return
        time.sleep(0.01)
    raise AssertionError("the request never reached the lock")


def client(gw: Gateway, stack: LocalStack) -> httpx.Client:
    return httpx.Client(base_url=gw.rest_url, headers=key_headers(stack.service_role_key))


def park(gw: Gateway, stack: LocalStack) -> concurrent.futures.Future[Any]:
    """POST /rpc/e2e_wait_lock in another thread; returns its response or its exception."""

    def call() -> Any:
        with client(gw, stack) as http:
            try:
                return http.post("/rpc/e2e_wait_lock", json={}, timeout=30)
            except httpx.TransportError as exc:
                return exc

    return concurrent.futures.ThreadPoolExecutor(1).submit(call)


def test_pool_exhaustion_is_pgrst003_then_recovers(gateway, stack, db, lock):
    parked = park(gateway, stack)
    wait_until_parked(db)
    with client(gateway, stack) as http:
        response = http.get("/e2e_parent", timeout=30)
        assert response.status_code == 504
        assert response.json()["code"] == "PGRST003"
        unlock(lock)
        assert parked.result(timeout=30).status_code == 200
        assert http.get("/e2e_parent", timeout=30).status_code == 200


def test_client_gone_mid_request_returns_the_connection(gateway, stack, db, lock, caplog):
    caplog.set_level(logging.WARNING)
    key = stack.service_role_key
    with socket.create_connection((gateway.host, gateway.port)) as sock:
        sock.sendall(
            b"POST /rest/v1/rpc/e2e_wait_lock HTTP/1.1\r\nHost: x\r\n"
            + f"apikey: {key}\r\nAuthorization: Bearer {key}\r\n".encode()
            + b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        )
        wait_until_parked(db)
    unlock(lock)
    with client(gateway, stack) as http:  # the single pooled connection came back
        assert http.get("/e2e_parent", timeout=30).status_code == 200
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_client_gone_mid_body_logs_no_error(gateway, stack, caplog):
    caplog.set_level(logging.WARNING)
    key = stack.service_role_key
    with socket.create_connection((gateway.host, gateway.port)) as sock:
        sock.sendall(
            b"POST /rest/v1/e2e_nopk HTTP/1.1\r\nHost: x\r\n"
            + f"apikey: {key}\r\nAuthorization: Bearer {key}\r\n".encode()
            + b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{"
        )
    with client(gateway, stack) as http:
        assert http.get("/e2e_parent", timeout=30).status_code == 200
        assert http.get("/e2e_parent", timeout=30).status_code == 200
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_stop_with_a_request_in_flight_then_restart(gateway, stack, db, lock):
    parked = park(gateway, stack)
    wait_until_parked(db)
    gateway.stop()
    assert not gateway.running
    outcome = parked.result(timeout=30)
    # Cancelled after the grace period: a JSON 503 (a proxy-style numeric code), not
    # uvicorn's plain-text 500 with a traceback.
    assert outcome.status_code == 503
    assert outcome.json()["code"] == "503"
    unlock(lock)
    gateway.start()
    with client(gateway, stack) as http:
        assert http.get("/e2e_parent", timeout=30).status_code == 200
        assert http.post("/rpc/e2e_wait_lock", json={}, timeout=30).json() == 1


def test_restarted_gateway_keeps_its_port_and_serves(gateway, stack):
    port = gateway.port
    for _ in range(3):
        gateway.stop()
        gateway.start()
        assert gateway.port == port
        with client(gateway, stack) as http:
            assert http.get("/e2e_parent", timeout=30).status_code == 200
