"""The local Realtime's sans-I/O parts: V1 framing, join payloads, token checks."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from realtime.message import ServerMessageAdapter

from supabase_jobs.local._realtime import _protocol as P
from supabase_jobs.local._realtime._auth import AuthError, TokenVerifier

SECRET = "s" * 48


def test_parse_frame_reads_a_realtime_py_join() -> None:
    text = (
        '{"event":"phx_join","payload":{"config":{"broadcast":{"ack":false,"self":true},'
        '"presence":{"key":"","enabled":false},"private":true,"postgres_changes":[]},'
        '"access_token":"tok"},"topic":"realtime:jobs:default","ref":"1","join_ref":"1"}'
    )
    frame = P.parse_frame(text)
    assert (frame.topic, frame.event, frame.ref, frame.join_ref) == (
        "realtime:jobs:default",
        "phx_join",
        "1",
        "1",
    )
    join = P.parse_join(frame.payload)
    assert join == P.JoinRequest(
        private=True, broadcast_self=True, broadcast_ack=False, access_token="tok"
    )


@pytest.mark.parametrize(
    ("text", "topic", "ref"),
    [
        ("nope", "phoenix", None),
        ("[]", "phoenix", None),
        ('{"topic": 1, "event": "x", "payload": {}, "ref": "3"}', "phoenix", "3"),
        ('{"topic": "t", "event": 2, "payload": {}, "ref": 4}', "t", "4"),
        ('{"topic": "t", "event": "e", "payload": "s", "ref": null}', "t", None),
        ('{"topic": "t", "event": "e", "payload": {}, "ref": "1", "join_ref": []}', "t", "1"),
        ('{"topic": "' + "x" * 2000 + '", "event": "e", "payload": {}}', "phoenix", None),
    ],
)
def test_malformed_frames_raise_a_protocol_error_with_what_could_be_read(
    text: str, topic: str, ref: str | None
) -> None:
    with pytest.raises(P.ProtocolError) as info:
        P.parse_frame(text)
    assert info.value.reason.startswith("malformed message")
    assert (info.value.topic, info.value.ref) == (topic, ref)


def test_parse_join_defaults_odd_values() -> None:
    join = P.parse_join({"config": "x", "user_token": "u"})
    assert join == P.JoinRequest(False, False, False, "u")
    assert P.parse_join({"config": {"private": "yes"}, "access_token": ""}).private is False


@pytest.mark.parametrize(
    "frame",
    [
        P.reply_frame("realtime:a", "1", {"postgres_changes": []}),
        P.reply_frame("phoenix", None),
        P.error_frame("realtime:a", "2", "Unauthorized: no"),
        P.close_frame("realtime:a", "1"),
        P.system_frame("realtime:a", "Token has expired 0 seconds ago"),
        P.broadcast_frame("realtime:a", "jobs_available", {"queue": "a"}, "id-1"),
    ],
)
def test_every_server_frame_is_accepted_by_realtime_py(frame: str) -> None:
    message = ServerMessageAdapter.validate_json(frame)
    assert message.topic == json.loads(frame)["topic"]
    assert "join_ref" not in json.loads(frame)


def token(**claims: object) -> str:
    return jwt.encode(claims, SECRET, algorithm="HS256")


def test_token_verifier_follows_realtime_rules() -> None:
    verifier = TokenVerifier(SECRET, {"sb_secret_x": token(role="service_role", exp=2**40)})
    identity = verifier.verify(verifier.resolve_key("sb_secret_x"))
    assert identity.role == "service_role" and "sb_secret" not in repr(identity)
    assert SECRET not in repr(verifier)
    cases = {
        "MalformedJWT": "not-a-jwt",
        "JwtSignatureError": jwt.encode({"role": "anon", "exp": 2**40}, "x" * 48, "HS256"),
        "InvalidJWTToken": token(role="anon"),
    }
    for code, value in cases.items():
        with pytest.raises(AuthError) as info:
            verifier.verify(value)
        assert info.value.code == code
    with pytest.raises(AuthError, match="Token has expired"):
        verifier.verify(token(role="anon", exp=int(time.time()) - 5))
    with pytest.raises(AuthError, match="required"):
        verifier.verify(token(exp=2**40))
    with pytest.raises(AuthError):
        verifier.resolve_key("sb_secret_unknown")
