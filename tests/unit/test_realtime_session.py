"""The local Realtime endpoint in-process (no database: public channels only)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from websockets import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.sync.connection import Connection

from supabase_jobs.local._realtime import Limits, RealtimeConfig, RealtimeEndpoint

SECRET = "k" * 48
KEY = jwt.encode({"role": "service_role", "exp": int(time.time()) + 3600}, SECRET, "HS256")


@pytest.fixture
def base_url() -> Iterator[str]:
    """The endpoint under uvicorn on 127.0.0.1, as the gateway serves it."""
    # Nothing listens on port 1: the hub's LISTEN keeps retrying, public channels still work.
    config = RealtimeConfig(
        "postgresql://127.0.0.1:1/none?connect_timeout=1", SECRET, limits=Limits(idle_timeout=1)
    )
    app = Starlette(routes=[WebSocketRoute("/realtime/v1/websocket", RealtimeEndpoint(config))])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, ws="websockets-sansio", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{sock.getsockname()[1]}/realtime/v1/websocket"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def open_ws(base_url: str, vsn: str = "1.0.0") -> ClientConnection:
    return connect(f"{base_url}?apikey={KEY}&vsn={vsn}", open_timeout=30)


def recv(ws: Connection) -> dict[str, Any]:
    data = json.loads(ws.recv(timeout=30))
    assert isinstance(data, dict)
    return data


def frame(topic: str, event: str, payload: dict[str, Any], ref: str | None) -> str:
    return json.dumps(
        {"topic": topic, "event": event, "payload": payload, "ref": ref, "join_ref": ref}
    )


def test_an_idle_socket_is_closed(base_url: str) -> None:
    with open_ws(base_url) as ws:
        ws.send(frame("phoenix", "heartbeat", {}, "1"))
        assert recv(ws)["ref"] == "1"
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=30)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1000


def test_client_broadcasts_honour_self_and_ack(base_url: str) -> None:
    with open_ws(base_url) as a, open_ws(base_url) as b:
        config = {"config": {"broadcast": {"self": True, "ack": True}}}
        a.send(frame("realtime:room", "phx_join", config, "1"))
        b.send(frame("realtime:room", "phx_join", {}, "1"))
        assert recv(a)["payload"]["status"] == "ok"
        assert recv(b)["payload"]["status"] == "ok"
        message = {"type": "broadcast", "event": "hi", "payload": {"n": 1}}
        a.send(frame("realtime:room", "broadcast", message, "2"))
        got_a = [recv(a) for _ in range(2)]
        assert {m["event"] for m in got_a} == {"broadcast", "phx_reply"}, "self + ack"
        got_b = recv(b)
        assert got_b["event"] == "broadcast" and got_b["ref"] is None
        assert got_b["payload"] == {"event": "hi", "payload": {"n": 1}, "type": "broadcast"}
        b.send(frame("realtime:room", "broadcast", message, "3"))  # no self, no ack
        assert recv(a)["payload"]["payload"] == {"n": 1}
        b.send(frame("phoenix", "heartbeat", {}, "4"))
        assert recv(b)["ref"] == "4", "b got neither its own nor an ack"


def test_unsupported_serializer_is_refused(base_url: str) -> None:
    with pytest.raises(InvalidStatus) as info:
        open_ws(base_url, vsn="2.0.0")
    assert info.value.response.status_code == 400
