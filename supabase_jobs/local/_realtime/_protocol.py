"""Phoenix V1 JSON framing as Supabase Realtime speaks it (sans I/O).

Every frame is one JSON object in a text frame: ``{topic, event, payload, ref, join_ref}``
from the client, ``{topic, event, payload, ref}`` from the server (``join_ref`` is never
emitted; ``ref`` is ``null`` on pushes, which realtime-py requires). Sources: Phoenix
``v1_json_serializer.ex`` and ``socket/message.ex``; realtime-py ``message.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "PHOENIX_TOPIC",
    "TOPIC_PREFIX",
    "Frame",
    "JoinRequest",
    "ProtocolError",
    "broadcast_frame",
    "close_frame",
    "encode",
    "error_frame",
    "parse_frame",
    "parse_join",
    "reply_frame",
    "system_frame",
]

PHOENIX_TOPIC = "phoenix"
TOPIC_PREFIX = "realtime:"
#: Longer topics are refused as malformed (a channel name is a short label).
MAX_TOPIC_CHARS = 1024


class ProtocolError(Exception):
    """A frame the server cannot act on; answered with an error reply, never a crash.

    Args:
        reason: The ``response.reason`` of the error reply.
        topic: The frame's topic when it could be read (else ``phoenix``).
        ref: The frame's ref when it could be read.
    """

    def __init__(self, reason: str, topic: str = PHOENIX_TOPIC, ref: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.topic = topic
        self.ref = ref


@dataclass(frozen=True)
class Frame:
    """One client frame.

    Attributes:
        topic: ``phoenix`` or ``realtime:<channel name>``.
        event: ``phx_join``, ``heartbeat``, ``access_token``, ``phx_leave``, ``broadcast``...
        payload: The JSON object payload.
        ref: The client's reference (echoed in the reply), if any.
        join_ref: The ref of the channel's current join, if any.
    """

    topic: str
    event: str
    payload: dict[str, Any]
    ref: str | None
    join_ref: str | None


@dataclass(frozen=True)
class JoinRequest:
    """The parts of a ``phx_join`` payload this server acts on.

    Attributes:
        private: ``config.private``: the channel is authorized through realtime.messages RLS.
        broadcast_self: ``config.broadcast.self``: the sender receives its own broadcasts.
        broadcast_ack: ``config.broadcast.ack``: client broadcasts are acknowledged.
        access_token: The channel token (``access_token`` or ``user_token``), if any.
    """

    private: bool
    broadcast_self: bool
    broadcast_ack: bool
    access_token: str | None


def _ref(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError("ref")


def parse_frame(text: str) -> Frame:
    """Parse one V1 text frame.

    Raises:
        ProtocolError: The text is not a JSON object with a string ``topic`` and ``event``,
            an object ``payload`` and string-or-null refs.
    """
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError("malformed message: not JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError("malformed message: a V1 frame is a JSON object")
    topic = data.get("topic")
    topic = topic if isinstance(topic, str) and len(topic) <= MAX_TOPIC_CHARS else None
    try:
        ref = _ref(data.get("ref"))
    except ValueError:
        ref = None
    reply_topic = topic or PHOENIX_TOPIC
    if topic is None or not isinstance(data.get("event"), str):
        raise ProtocolError("malformed message: topic and event must be strings", reply_topic, ref)
    payload = data.get("payload", {})
    if not isinstance(payload, dict):
        raise ProtocolError("malformed message: payload must be an object", reply_topic, ref)
    try:
        join_ref = _ref(data.get("join_ref"))
        _ref(data.get("ref"))
    except ValueError:
        raise ProtocolError("malformed message: bad ref", reply_topic, ref) from None
    return Frame(topic, data["event"], payload, ref, join_ref)


def parse_join(payload: dict[str, Any]) -> JoinRequest:
    """Read a ``phx_join`` payload; missing or odd values take Realtime's defaults."""
    config = payload.get("config")
    config = config if isinstance(config, dict) else {}
    broadcast = config.get("broadcast")
    broadcast = broadcast if isinstance(broadcast, dict) else {}
    token = payload.get("access_token", payload.get("user_token"))
    return JoinRequest(
        private=config.get("private") is True,
        broadcast_self=broadcast.get("self") is True,
        broadcast_ack=broadcast.get("ack") is True,
        access_token=token if isinstance(token, str) and token else None,
    )


def encode(topic: str, event: str, payload: dict[str, Any], ref: str | None) -> str:
    """One server frame as text."""
    return json.dumps(
        {"topic": topic, "event": event, "payload": payload, "ref": ref}, separators=(",", ":")
    )


def reply_frame(topic: str, ref: str | None, response: dict[str, Any] | None = None) -> str:
    """An ``ok`` ``phx_reply``."""
    return encode(topic, "phx_reply", {"status": "ok", "response": response or {}}, ref)


def error_frame(topic: str, ref: str | None, reason: str) -> str:
    """An ``error`` ``phx_reply`` with ``{"reason": ...}`` (realtime-py needs ``response``)."""
    return encode(topic, "phx_reply", {"status": "error", "response": {"reason": reason}}, ref)


def close_frame(topic: str, join_ref: str | None) -> str:
    """``phx_close``: the channel is gone (terminal for realtime-py)."""
    return encode(topic, "phx_close", {}, join_ref)


def system_frame(topic: str, message: str, *, status: str = "error") -> str:
    """A ``system`` push (``channel`` is the name without ``realtime:``)."""
    payload = {
        "channel": topic.removeprefix(TOPIC_PREFIX),
        "extension": "system",
        "message": message,
        "status": status,
    }
    return encode(topic, "system", payload, None)


def broadcast_frame(topic: str, event: str, payload: dict[str, Any], message_id: str | None) -> str:
    """A ``broadcast`` push, shaped as Realtime delivers a realtime.messages row."""
    body: dict[str, Any] = {"event": event, "payload": payload, "type": "broadcast"}
    if message_id is not None:
        body["meta"] = {"id": message_id}
    return encode(topic, "broadcast", body, None)
