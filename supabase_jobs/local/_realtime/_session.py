"""One Realtime socket: Phoenix channel events in, replies and broadcasts out.

Frames are read in order on one task; everything sent goes through one bounded queue drained
by a writer task, so a broadcast fan-out never waits on a slow client (a client that falls
that far behind is disconnected, and its realtime client reconnects).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from supabase_jobs.local._realtime import _protocol as P
from supabase_jobs.local._realtime._auth import AuthError, Identity, TokenVerifier
from supabase_jobs.local._realtime._hub import Hub

__all__ = ["Limits", "Session"]

logger = logging.getLogger("supabase_jobs.local.realtime")


@dataclass(frozen=True)
class Limits:
    """Per-socket limits (Supabase's defaults where it has one).

    Attributes:
        max_channels: Channels joined at once (Supabase: 100 per connection).
        max_joins_per_second: More joins than this in one second disconnect the socket
            (``ClientJoinRateLimitReached``).
        idle_timeout: Seconds without any inbound frame before the socket is closed
            (Phoenix: 60).
        max_frame_bytes: Inbound frames larger than this close the socket with 1009
            (Realtime's ``max_frame_size``; the gateway's uvicorn enforces it first).
        max_push_bytes: Broadcasts whose frame is larger are dropped: realtime-py (websockets'
            default ``max_size``) would close the socket on them.
        outbox_size: Frames queued for a slow client before it is disconnected.
    """

    max_channels: int = 100
    max_joins_per_second: int = 100
    idle_timeout: float = 60.0
    max_frame_bytes: int = 5_000_000
    max_push_bytes: int = 1024 * 1024
    outbox_size: int = 1000


@dataclass
class _Channel:
    topic: str  # the name without "realtime:"
    join_ref: str | None
    private: bool
    broadcast_self: bool
    broadcast_ack: bool
    identity: Identity
    expiry: asyncio.TimerHandle | None = None


class Session:
    """The server end of one accepted websocket.

    Args:
        websocket: The accepted socket.
        identity: Who the socket's ``apikey`` authenticated.
        hub: The shared fan-out.
        verifier: Token checks for channel tokens.
        limits: Per-socket limits.
    """

    def __init__(
        self,
        websocket: WebSocket,
        identity: Identity,
        hub: Hub,
        verifier: TokenVerifier,
        limits: Limits,
    ) -> None:
        self._ws = websocket
        self._identity = identity
        self._hub = hub
        self._verifier = verifier
        self._limits = limits
        self._channels: dict[str, _Channel] = {}
        # Frames, then a (code, reason) close after the frames before it, or None to stop.
        self._outbox: asyncio.Queue[str | tuple[int, str] | None] = asyncio.Queue(
            limits.outbox_size
        )
        self._joins: list[float] = []
        self._headers = {k: v for k, v in websocket.headers.items() if k != "x-api-key"}
        self._closing = False
        self._closer: asyncio.Future[None] | None = None

    async def run(self) -> None:
        """Serve the socket until the client leaves, the server stops or a limit trips."""
        writer = asyncio.create_task(self._write())
        try:
            while not self._closing:
                try:
                    message = await asyncio.wait_for(
                        self._ws.receive(), timeout=self._limits.idle_timeout
                    )
                except TimeoutError:
                    self._close_soon(1000, "idle timeout")
                    break
                if message["type"] == "websocket.disconnect":
                    break
                await self._on_message(message)
        except WebSocketDisconnect:
            pass
        finally:
            for channel in list(self._channels.values()):
                self._drop(channel)
            self._closing = True
            with contextlib.suppress(asyncio.QueueFull):
                self._outbox.put_nowait(None)
            try:
                await asyncio.wait_for(writer, timeout=5)
            except (TimeoutError, asyncio.CancelledError):
                writer.cancel()

    async def _write(self) -> None:
        with contextlib.suppress(Exception):  # the client is gone: nothing left to write
            while (item := await self._outbox.get()) is not None:
                if isinstance(item, tuple):
                    await self._ws.close(*item)
                    return
                await self._ws.send_text(item)

    def _send(self, frame: str) -> None:
        if self._closing:
            return
        try:
            self._outbox.put_nowait(frame)
        except asyncio.QueueFull:
            logger.warning("realtime client too slow; disconnecting", extra={"action": "realtime"})
            self._close_soon(1011, "client too slow")

    def _close_soon(self, code: int, reason: str) -> None:
        """Close after the frames already queued (at once if the queue is full)."""
        if self._closing:
            return
        self._closing = True
        try:
            self._outbox.put_nowait((code, reason))
        except asyncio.QueueFull:
            self._closer = asyncio.ensure_future(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self._ws.close(code, reason)

    async def _on_message(self, message: MutableMapping[str, Any]) -> None:
        text = message.get("text")
        if text is None:
            # V1 never uses binary frames (V2's binary broadcasts are not served here).
            self._send(P.error_frame(P.PHOENIX_TOPIC, None, "malformed message: binary frame"))
            return
        if len(text) > self._limits.max_frame_bytes:
            self._close_soon(1009, "frame too large")
            return
        try:
            frame = P.parse_frame(text)
            await self._handle(frame)
        except P.ProtocolError as err:
            self._send(P.error_frame(err.topic, err.ref, err.reason))

    async def _handle(self, frame: P.Frame) -> None:
        if frame.topic == P.PHOENIX_TOPIC:
            if frame.event != "heartbeat":
                raise P.ProtocolError("unmatched topic", frame.topic, frame.ref)
            self._send(P.reply_frame(frame.topic, frame.ref))
            return
        if frame.event == "phx_join":
            await self._join(frame)
            return
        channel = self._channels.get(frame.topic)
        if channel is None:
            raise P.ProtocolError("unmatched topic", frame.topic, frame.ref)
        if frame.event == "phx_leave":
            self._drop(channel)
            self._send(P.reply_frame(frame.topic, frame.ref))
            self._send(P.close_frame(frame.topic, channel.join_ref))
        elif frame.event == "access_token":
            await self._refresh(channel, frame.payload.get("access_token"))
        elif frame.event == "broadcast":
            await self._client_broadcast(channel, frame)
        else:
            raise P.ProtocolError(f"UnknownEvent: {frame.event[:64]}", frame.topic, frame.ref)

    def _rate_limited(self) -> bool:
        now = time.monotonic()
        self._joins = [t for t in self._joins if now - t < 1.0]
        self._joins.append(now)
        return len(self._joins) > self._limits.max_joins_per_second

    async def _join(self, frame: P.Frame) -> None:
        topic, ref = frame.topic, frame.ref
        if not topic.startswith(P.TOPIC_PREFIX):
            raise P.ProtocolError("unmatched topic", topic, ref)
        name = topic.removeprefix(P.TOPIC_PREFIX)
        if not name:
            raise P.ProtocolError("TopicNameRequired: You must provide a topic name", topic, ref)
        if self._rate_limited():
            self._send(P.error_frame(topic, ref, "ClientJoinRateLimitReached: Too many joins"))
            self._close_soon(1008, "too many joins")
            return
        old = self._channels.get(topic)
        if old is None and len(self._channels) >= self._limits.max_channels:
            raise P.ProtocolError("ChannelRateLimitReached: Too many channels", topic, ref)
        request = P.parse_join(frame.payload)
        try:
            identity = self._channel_identity(request.access_token)
        except AuthError as err:
            raise P.ProtocolError(err.reason, topic, ref) from None
        if request.private and not await self._hub.can_read(name, identity, self._headers):
            reason = (
                f"Unauthorized: You do not have permissions to read from this Channel topic: {name}"
            )
            raise P.ProtocolError(reason, topic, ref)
        if old is not None:  # a rejoin replaces the channel (no stale phx_close: fatal to clients)
            self._drop(old)
        channel = _Channel(
            topic=topic,
            join_ref=frame.join_ref or ref,
            private=request.private,
            broadcast_self=request.broadcast_self,
            broadcast_ack=request.broadcast_ack,
            identity=identity,
        )
        self._channels[topic] = channel
        self._hub.subscribe(name, channel.private, self._deliver)
        self._arm_expiry(channel)
        self._send(P.reply_frame(topic, ref, {"postgres_changes": []}))

    def _channel_identity(self, token: str | None) -> Identity:
        # An sb_ key or no token at all: the channel acts as the socket (Realtime's rule).
        if token is None or token.startswith("sb_") or token == self._identity.token:
            if self._identity.expires <= time.time():
                raise AuthError("InvalidJWTToken", "Token has expired 0 seconds ago")
            return self._identity
        return self._verifier.verify(token)

    def _deliver(self, name: str, event: str, payload: dict[str, Any], msg_id: str | None) -> None:
        topic = P.TOPIC_PREFIX + name
        if topic not in self._channels:
            return
        frame = P.broadcast_frame(topic, event, payload, msg_id)
        if len(frame) > self._limits.max_push_bytes:
            logger.warning("realtime broadcast too large; dropped", extra={"action": "realtime"})
            return
        self._send(frame)

    def _drop(self, channel: _Channel) -> None:
        if self._channels.get(channel.topic) is channel:
            del self._channels[channel.topic]
        name = channel.topic.removeprefix(P.TOPIC_PREFIX)
        self._hub.unsubscribe(name, channel.private, self._deliver)
        if channel.expiry is not None:
            channel.expiry.cancel()

    def _shut(self, channel: _Channel, message: str) -> None:
        """Close a channel from the server side: a system error, then ``phx_close``."""
        if self._channels.get(channel.topic) is not channel:
            return
        self._drop(channel)
        self._send(P.system_frame(channel.topic, message))
        self._send(P.close_frame(channel.topic, channel.join_ref))

    def _arm_expiry(self, channel: _Channel) -> None:
        if channel.expiry is not None:
            channel.expiry.cancel()
        delay = max(0.0, channel.identity.expires - time.time())
        loop = asyncio.get_running_loop()
        channel.expiry = loop.call_later(
            delay, self._shut, channel, "Token has expired 0 seconds ago"
        )

    async def _refresh(self, channel: _Channel, token: Any) -> None:
        # Realtime ignores a null, unchanged or sb_ token, and never replies.
        if not isinstance(token, str) or token.startswith("sb_"):
            return
        if token == channel.identity.token:
            return
        try:
            identity = self._verifier.verify(token)
        except AuthError as err:
            self._shut(channel, err.message)
            return
        name = channel.topic.removeprefix(P.TOPIC_PREFIX)
        if channel.private and not await self._hub.can_read(name, identity, self._headers):
            self._shut(channel, "You no longer have permission to read from this Channel topic")
            return
        channel.identity = identity
        self._arm_expiry(channel)

    async def _client_broadcast(self, channel: _Channel, frame: P.Frame) -> None:
        event, payload = frame.payload.get("event"), frame.payload.get("payload")
        if not isinstance(event, str) or not isinstance(payload, dict):
            raise P.ProtocolError("malformed message: broadcast", frame.topic, frame.ref)
        if channel.private and channel.identity.role != "service_role":
            # Writing to a private channel needs an INSERT policy; only the role that
            # bypasses RLS is let through here.
            raise P.ProtocolError(
                "Unauthorized: You do not have permissions to write to this Channel topic",
                frame.topic,
                frame.ref,
            )
        name = channel.topic.removeprefix(P.TOPIC_PREFIX)
        skip = None if channel.broadcast_self else self._deliver
        self._hub.publish(name, channel.private, event, payload, None, skip=skip)
        if channel.broadcast_ack:
            self._send(P.reply_frame(frame.topic, frame.ref))
