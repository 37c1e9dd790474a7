"""The local Realtime at /realtime/v1/websocket, through realtime-py and raw websockets."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import psycopg
import pytest
import websockets
from realtime import AsyncRealtimeClient, RealtimeSubscribeStates
from supabase import AsyncClientOptions, acreate_client
from websockets.asyncio.client import ClientConnection

from supabase_jobs import AsyncJobsClient
from supabase_jobs.local import LocalStack

pytestmark = [
    pytest.mark.e2e,
    # realtime-py 2.34 reads ConnectionClosed.code / .reason when a socket drops; under this
    # suite's warnings-as-errors that warning would kill its listener task.
    pytest.mark.filterwarnings("ignore:ConnectionClosed.* is deprecated:DeprecationWarning"),
]

TENANT = str(uuid.UUID(int=42))
PRIVATE = {"config": {"private": True, "broadcast": {"ack": False, "self": False}}}
WAIT = 30.0  # generous: the machine is shared


def ws_url(stack: LocalStack, key: str | None) -> str:
    base = stack.url.replace("http://", "ws://") + "/realtime/v1/websocket?vsn=1.0.0"
    return base + (f"&apikey={key}" if key else "")


@pytest.fixture
def admin(stack: LocalStack) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute("truncate public.jobs")
        yield conn


@pytest.fixture
async def raw(stack: LocalStack) -> AsyncIterator[ClientConnection]:
    async with websockets.connect(ws_url(stack, stack.service_role_key)) as conn:
        yield conn


async def send(conn: ClientConnection, topic: str, event: str, payload: Any, ref: Any) -> None:
    frame = {"topic": topic, "event": event, "payload": payload, "ref": ref, "join_ref": ref}
    await conn.send(json.dumps(frame))


async def recv(conn: ClientConnection) -> dict[str, Any]:
    data = json.loads(await asyncio.wait_for(conn.recv(), WAIT))
    assert isinstance(data, dict)
    return data


async def joined(client: AsyncRealtimeClient, name: str, params: Any) -> tuple[Any, list[Any]]:
    states: list[Any] = []
    channel = client.channel(name, params)
    await channel.subscribe(lambda state, _err: states.append(state))
    return channel, states


async def test_private_join_receives_one_message_per_queue_for_dispatch_many_of_5000(
    stack: LocalStack, admin: psycopg.Connection[Any]
) -> None:
    client = AsyncRealtimeClient(stack.url + "/realtime/v1", token=stack.service_role_key)
    got: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
    try:
        for queue in ("rt-a", "rt-b"):
            channel, states = await joined(client, f"supabase_jobs:queue:{queue}", PRIVATE)
            channel.on_broadcast("jobs_available", lambda m, q=queue: got.put_nowait((q, m)))
            assert states == [RealtimeSubscribeStates.SUBSCRIBED] and channel.is_joined
        async with httpx.AsyncClient(timeout=120) as http:
            options = AsyncClientOptions(httpx_client=http, postgrest_client_retry=False)
            sb = await acreate_client(stack.url, stack.service_role_key, options)
            jobs = AsyncJobsClient(sb)
            items = [
                {"tenant_id": TENANT, "type": "test_job", "queue": "rt-a" if i % 2 else "rt-b"}
                for i in range(5000)
            ]
            assert len(await jobs.dispatch_many(items)) == 5000
        first = [await asyncio.wait_for(got.get(), WAIT) for _ in range(2)]
        assert sorted(q for q, _ in first) == ["rt-a", "rt-b"]
        for queue, message in first:
            assert message["event"] == "jobs_available"
            assert message["payload"]["queue"] == queue
            assert message["meta"]["id"] == message["payload"]["id"]
        # A later message proves ordering: nothing else came for the 5,000 jobs before it.
        admin.execute(
            "select realtime.send('{\"end\": 1}', 'jobs_available', 'supabase_jobs:queue:rt-a')"
        )
        queue, last = await asyncio.wait_for(got.get(), WAIT)
        assert last["payload"].get("end") == 1
        assert got.empty()
    finally:
        await client.close()


async def test_anon_is_refused_a_private_channel_but_may_join_a_public_one(
    stack: LocalStack,
) -> None:
    client = AsyncRealtimeClient(stack.url + "/realtime/v1", token=stack.anon_key)
    try:
        channel, states = await joined(client, "supabase_jobs:queue:default", PRIVATE)
        assert states[0] == RealtimeSubscribeStates.CHANNEL_ERROR and not channel.is_joined
        _public, states = await joined(client, "lobby", {"config": {"private": False}})
        assert states == [RealtimeSubscribeStates.SUBSCRIBED]
    finally:
        await client.close()


async def test_authenticated_is_admitted_only_where_a_policy_allows(
    stack: LocalStack, admin: psycopg.Connection[Any]
) -> None:
    user = stack.mint_user_jwt(TENANT)
    client = AsyncRealtimeClient(stack.url + "/realtime/v1", token=stack.anon_key)
    params = {"config": {"private": True}, "access_token": user}
    try:
        await client.set_auth(user)
        _, states = await joined(client, "tenant-room", params)
        assert states[0] == RealtimeSubscribeStates.CHANNEL_ERROR
        admin.execute(
            "create policy e2e_rt_read on realtime.messages for select to authenticated"
            " using (realtime.topic() = 'tenant-room' and extension = 'broadcast')"
        )
        try:
            await client.close()
            client = AsyncRealtimeClient(stack.url + "/realtime/v1", token=stack.anon_key)
            await client.set_auth(user)
            channel, states = await joined(client, "tenant-room", params)
            assert states == [RealtimeSubscribeStates.SUBSCRIBED]
            got: asyncio.Queue[Any] = asyncio.Queue()
            channel.on_broadcast("hello", got.put_nowait)
            _, other = await joined(client, "other-room", params)
            assert other[0] == RealtimeSubscribeStates.CHANNEL_ERROR, "the policy names one topic"
            admin.execute("select realtime.send('{\"x\": 1}', 'hello', 'tenant-room')")
            message = await asyncio.wait_for(got.get(), WAIT)
            assert message["payload"]["x"] == 1
        finally:
            admin.execute("drop policy e2e_rt_read on realtime.messages")
    finally:
        await client.close()


async def test_heartbeat_is_answered_with_its_ref(raw: ClientConnection) -> None:
    for ref in ("7", None):
        await send(raw, "phoenix", "heartbeat", {}, ref)
        assert await recv(raw) == {
            "topic": "phoenix",
            "event": "phx_reply",
            "payload": {"status": "ok", "response": {}},
            "ref": ref,
        }


async def test_leave_replies_then_closes_with_the_join_ref(raw: ClientConnection) -> None:
    await send(raw, "realtime:room", "phx_join", {"config": {"private": True}}, "1")
    assert (await recv(raw))["payload"] == {"status": "ok", "response": {"postgres_changes": []}}
    await send(raw, "realtime:room", "phx_leave", {}, "2")
    reply, close = await recv(raw), await recv(raw)
    assert reply["event"] == "phx_reply" and reply["ref"] == "2"
    assert close == {"topic": "realtime:room", "event": "phx_close", "payload": {}, "ref": "1"}
    await send(raw, "realtime:room", "broadcast", {"event": "e", "payload": {}}, "3")
    assert (await recv(raw))["payload"]["response"] == {"reason": "unmatched topic"}


async def test_bad_frames_get_phoenix_errors_and_the_socket_lives_on(
    raw: ClientConnection,
) -> None:
    bad: list[str | bytes] = [
        "not json",
        "[1, 2]",
        '{"topic": 5, "event": "phx_join", "payload": {}, "ref": "1"}',
        '{"topic": "realtime:x", "event": "phx_join", "payload": [], "ref": "2"}',
        '{"topic": "realtime:x", "event": "phx_join", "payload": {}, "ref": {"a": 1}}',
        "[" * 100_000,
        b"\x00\x01binary",
    ]
    for frame in bad:
        await raw.send(frame)
        answer = await recv(raw)
        assert answer["event"] == "phx_reply" and answer["payload"]["status"] == "error"
        assert answer["payload"]["response"]["reason"].startswith("malformed message")
    await send(raw, "nowhere", "phx_join", {}, "3")
    assert (await recv(raw))["payload"]["response"] == {"reason": "unmatched topic"}
    await send(raw, "realtime:", "phx_join", {}, "4")
    assert "TopicNameRequired" in (await recv(raw))["payload"]["response"]["reason"]
    await send(raw, "phoenix", "heartbeat", {}, "5")
    assert (await recv(raw))["payload"]["status"] == "ok"


async def test_connect_needs_a_valid_key(stack: LocalStack) -> None:
    for key in (None, "not-a-jwt", stack.anon_key[:-4] + "AAAA", "sb_secret_unknown"):
        with pytest.raises(websockets.InvalidStatus) as info:
            async with websockets.connect(ws_url(stack, key)):
                pass
        assert info.value.response.status_code == 401
        assert "error" in json.loads(info.value.response.body or b"{}")
    async with websockets.connect(ws_url(stack, stack.secret_key)) as conn:  # sb_ key swapped
        await send(conn, "realtime:q", "phx_join", {"config": {"private": True}}, "1")
        assert (await recv(conn))["payload"]["status"] == "ok"


async def test_huge_frame_closes_that_socket_only(stack: LocalStack, raw: ClientConnection) -> None:
    await raw.send("x" * 6_000_000)
    with pytest.raises(websockets.ConnectionClosed) as info:
        await asyncio.wait_for(raw.recv(), WAIT)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009
    async with websockets.connect(ws_url(stack, stack.service_role_key)) as conn:
        await send(conn, "phoenix", "heartbeat", {}, "1")
        assert (await recv(conn))["payload"]["status"] == "ok"


async def test_channels_per_socket_are_capped(raw: ClientConnection) -> None:
    for i in range(100):
        await send(raw, f"realtime:c{i}", "phx_join", {}, str(i))
        assert (await recv(raw))["payload"]["status"] == "ok"
        if i % 50 == 49:
            await asyncio.sleep(1.1)  # stay under the joins-per-second limit
    await send(raw, "realtime:c100", "phx_join", {}, "100")
    answer = await recv(raw)
    assert answer["payload"]["response"]["reason"].startswith("ChannelRateLimitReached")
    await send(raw, "realtime:c0", "phx_join", {}, "101")  # a rejoin is no new channel
    assert (await recv(raw))["payload"]["status"] == "ok"


async def test_a_join_flood_disconnects_the_socket_not_the_gateway(
    stack: LocalStack, raw: ClientConnection
) -> None:
    frames = [
        json.dumps({"topic": f"realtime:f{i}", "event": "phx_join", "payload": {}, "ref": str(i)})
        for i in range(300)
    ]
    for frame in frames:
        try:
            await raw.send(frame)
        except websockets.ConnectionClosed:
            break
    reasons = []
    with pytest.raises(websockets.ConnectionClosed) as info:
        while True:
            reasons.append((await recv(raw))["payload"]["response"].get("reason"))
    assert info.value.rcvd is not None and info.value.rcvd.code == 1008
    assert any(r and r.startswith("ClientJoinRateLimitReached") for r in reasons)
    async with websockets.connect(ws_url(stack, stack.service_role_key)) as conn:
        await send(conn, "phoenix", "heartbeat", {}, "1")
        assert (await recv(conn))["payload"]["status"] == "ok"


async def test_a_bad_refreshed_token_closes_the_channel(raw: ClientConnection) -> None:
    await send(raw, "realtime:r", "phx_join", {"config": {"private": True}}, "1")
    assert (await recv(raw))["payload"]["status"] == "ok"
    await send(raw, "realtime:r", "access_token", {"access_token": "a.b.c"}, "2")
    system, close = await recv(raw), await recv(raw)
    assert system["event"] == "system" and system["payload"]["status"] == "error"
    assert system["payload"]["channel"] == "r" and system["ref"] is None
    assert close["event"] == "phx_close" and close["ref"] == "1"


async def test_an_expiring_channel_token_closes_the_channel(
    stack: LocalStack, raw: ClientConnection
) -> None:
    token = stack.mint_user_jwt(TENANT, expires_in=2)
    await send(raw, "realtime:exp", "phx_join", {"access_token": token}, "1")
    assert (await recv(raw))["payload"]["status"] == "ok"
    started = time.monotonic()
    system = await recv(raw)
    assert system["payload"]["message"].startswith("Token has expired")
    assert (await recv(raw))["event"] == "phx_close"
    assert time.monotonic() - started < WAIT


async def test_realtime_py_reconnects_and_rejoins_after_the_gateway_restarts(
    stack: LocalStack, admin: psycopg.Connection[Any]
) -> None:
    client = AsyncRealtimeClient(
        stack.url + "/realtime/v1", token=stack.service_role_key, max_retries=10
    )
    try:
        channel, states = await joined(client, "supabase_jobs:queue:restart", PRIVATE)
        got: asyncio.Queue[Any] = asyncio.Queue()
        channel.on_broadcast("jobs_available", got.put_nowait)
        await asyncio.to_thread(stack.restart_gateway)
        deadline = time.monotonic() + WAIT
        while states.count(RealtimeSubscribeStates.SUBSCRIBED) < 2:
            assert time.monotonic() < deadline, states
            await asyncio.sleep(0.1)
        assert RealtimeSubscribeStates.CHANNEL_ERROR in states
        admin.execute(
            "insert into public.jobs (tenant_id, type, queue) values (%s, 'test_job', 'restart')",
            [TENANT],
        )
        assert (await asyncio.wait_for(got.get(), WAIT))["payload"]["queue"] == "restart"
    finally:
        await client.close()


async def test_large_messages_are_read_back_and_oversized_ones_dropped(
    stack: LocalStack, admin: psycopg.Connection[Any], raw: ClientConnection
) -> None:
    await send(raw, "realtime:big", "phx_join", {"config": {"private": True}}, "1")
    assert (await recv(raw))["payload"]["status"] == "ok"
    send_sql = "select realtime.send(jsonb_build_object('blob', repeat('x', %s)), 'e', 'big')"
    admin.execute(send_sql, [100_000])  # over NOTIFY's 8000 bytes: announced by id, read back
    admin.execute(send_sql, [1_500_000])  # over realtime-py's 1 MiB frame limit: dropped
    admin.execute(send_sql, [10])
    first, second = await recv(raw), await recv(raw)
    assert len(first["payload"]["payload"]["blob"]) == 100_000
    assert first["payload"]["meta"]["id"] == first["payload"]["payload"]["id"]
    assert len(second["payload"]["payload"]["blob"]) == 10


async def test_fan_out_survives_losing_its_listen_connection(
    admin: psycopg.Connection[Any], raw: ClientConnection
) -> None:
    await send(raw, "realtime:relisten", "phx_join", {"config": {"private": True}}, "1")
    assert (await recv(raw))["payload"]["status"] == "ok"
    killed = admin.execute(
        "select count(pg_terminate_backend(pid)) from pg_stat_activity"
        " where application_name = 'supabase_jobs_realtime_listen'"
    ).fetchone()
    assert killed is not None and killed[0] >= 1
    # Messages sent while the hub reconnects are lost (as on Supabase); keep sending until
    # one gets through.
    deadline = time.monotonic() + WAIT
    while True:
        assert time.monotonic() < deadline, "the hub never listened again"
        admin.execute("select realtime.send('{\"n\": 1}', 'e', 'relisten')")
        try:
            message = json.loads(await asyncio.wait_for(raw.recv(), 0.5))
            break
        except TimeoutError:
            continue
    assert message["event"] == "broadcast" and message["payload"]["payload"]["n"] == 1
