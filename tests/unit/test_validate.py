"""Validation before any network call: ids, names, numbers, times; payloads (_payload)."""

from __future__ import annotations

import copy
import datetime as dt
import json
import uuid
from decimal import Decimal
from enum import Enum
from typing import Any

import pytest

from supabase_jobs._errors import (
    PayloadTooLargeError,
    PayloadValidationError,
    SecretInPayloadError,
    ValidationError,
)
from supabase_jobs._payload import prepare_payload, validate_payload
from supabase_jobs._sanitize import REDACTED
from supabase_jobs._validate import (
    validate_idempotency_key,
    validate_max_attempts,
    validate_priority,
    validate_queue_name,
    validate_run_at,
    validate_tenant_id,
    validate_type_name,
    validate_uuid,
    validate_worker_id,
)

TENANT = "1521f0ae-4db7-4110-a993-c494535d9b00"


@pytest.mark.parametrize(
    "value",
    [TENANT, TENANT.upper(), uuid.UUID(TENANT), "1521F0AE-4db7-4110-A993-c494535d9b00"],
)
def test_tenant_id_is_canonical_lower_case(value: object) -> None:
    assert validate_tenant_id(value) == TENANT


@pytest.mark.parametrize(
    "value",
    [
        "00000000-0000-0000-0000-000000000000",
        "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
        uuid.UUID(int=0),
        uuid.UUID(int=2**128 - 1),
        f"urn:uuid:{TENANT}",
        f"{{{TENANT}}}",
        TENANT.replace("-", ""),
        f"{TENANT}\n",
        f" {TENANT}",
        TENANT[:-1] + "g",
        TENANT.encode(),
        uuid.UUID(TENANT).int,
        None,
        True,
        "",
        [TENANT],
    ],
)
def test_tenant_id_rejects(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        validate_tenant_id(value)
    assert info.value.path == "tenant_id"
    assert str(info.value).startswith("invalid tenant_id: ")


def test_uuid_path_is_configurable() -> None:
    with pytest.raises(ValidationError, match=r"^invalid jobs\[2\]\.job_id: "):
        validate_uuid("nope", path="jobs[2].job_id")


@pytest.mark.parametrize("name", ["test_job", "a", "ai.generation:v2-x", "a" * 127])
def test_type_names(name: str) -> None:
    assert validate_type_name(name) == name


@pytest.mark.parametrize("name", ["", "Test", "1job", "job\n", "a" * 128, "has space", None, 3])
def test_type_names_rejected(name: object) -> None:
    with pytest.raises(ValidationError, match=r"^invalid type: must match"):
        validate_type_name(name)


def test_queue_names() -> None:
    assert validate_queue_name("default") == "default"
    assert validate_queue_name("q" * 63) == "q" * 63
    for bad in ("q" * 64, "default\n", "Default", "", b"default"):
        with pytest.raises(ValidationError, match=r"^invalid queue: "):
            validate_queue_name(bad)


@pytest.mark.parametrize(
    ("value", "ok"),
    [(-100, True), (100, True), (0, True), (101, False), (-101, False), (True, False),
     (1.0, False), ("1", False)],
)  # fmt: skip
def test_priority(value: object, ok: bool) -> None:
    if ok:
        assert validate_priority(value) == value
    else:
        with pytest.raises(ValidationError, match=r"^invalid priority: .*-100\.\.100"):
            validate_priority(value)


@pytest.mark.parametrize(
    ("value", "ok"),
    [(1, True), (1000, True), (0, False), (1001, False), (False, False), (None, False)],
)
def test_max_attempts(value: object, ok: bool) -> None:
    if ok:
        assert validate_max_attempts(value) == value
    else:
        with pytest.raises(ValidationError, match=r"^invalid max_attempts: "):
            validate_max_attempts(value)


@pytest.mark.parametrize("check", [validate_idempotency_key, validate_worker_id])
def test_short_texts(check: Any) -> None:
    assert check("k") == "k"
    assert check("é" * 255) == "é" * 255
    for bad in ("", "x" * 256, "a\x00b", "a\ud800", 5, None, b"key"):
        with pytest.raises(ValidationError) as info:
            check(bad)
        assert "\x00" not in str(info.value)


def test_run_at_aware_datetime_becomes_utc() -> None:
    paris = dt.timezone(dt.timedelta(hours=2))
    when = validate_run_at(dt.datetime(2030, 1, 1, 12, tzinfo=paris))
    assert when == dt.datetime(2030, 1, 1, 10, tzinfo=dt.timezone.utc)
    assert when.utcoffset() == dt.timedelta(0)


def test_run_at_timedelta_is_a_delay_from_now() -> None:
    now = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    assert validate_run_at(dt.timedelta(minutes=5), now=now) == now + dt.timedelta(minutes=5)
    assert validate_run_at(dt.timedelta(0), now=now) == now


@pytest.mark.parametrize(
    "value",
    [dt.datetime(2030, 1, 1), dt.date(2030, 1, 1), dt.timedelta(seconds=-1), "2030-01-01T00:00Z",
     1_900_000_000, None, dt.timedelta(days=999_999_999)],
)  # fmt: skip
def test_run_at_rejects(value: object) -> None:
    with pytest.raises(ValidationError, match=r"^invalid run_at: "):
        validate_run_at(value)


# --- payloads --------------------------------------------------------------------------


class Color(str, Enum):
    RED = "red"


@pytest.mark.parametrize(
    ("payload", "path", "reason"),
    [
        ({"items": [0, 1, 2, {"when": dt.datetime(2030, 1, 1)}]}, "payload.items[3].when",
         "datetime"),
        ({"a": Decimal("1.5")}, "payload.a", "Decimal"),
        ({"a": b"raw"}, "payload.a", "bytes"),
        ({"a": bytearray(b"raw")}, "payload.a", "bytearray"),
        ({"a": {1, 2}}, "payload.a", "set"),
        ({"a": frozenset()}, "payload.a", "frozenset"),
        ({"a": (1, 2)}, "payload.a", "tuple"),
        ({"a": [{"b": object()}]}, "payload.a[0].b", "object"),
        ({"a": 1j}, "payload.a", "complex"),
        ({"a": Color.RED}, "payload.a", "Color"),
        ({"a": uuid.UUID(TENANT)}, "payload.a", "UUID"),
        ({"a b": {"c-d": dt.date(2030, 1, 1)}}, 'payload["a b"]["c-d"]', "date"),
        ({"a": float("nan")}, "payload.a", "NaN"),
        ({"a": [1.5, float("inf")]}, "payload.a[1]", "Infinity"),
        ({"a": {"b": -float("inf")}}, "payload.a.b", "Infinity"),
        ({"a": 10**5000}, "payload.a", "integer too large"),
        ({"a": ["ok", "x\x00y"]}, "payload.a[1]", "NUL"),
        ({"a": {"k\x00": 1}}, 'payload.a["k\\u0000"]', "NUL"),
        ({"a": "\ud800"}, "payload.a", "surrogate"),
        ({"\udfff": 1}, 'payload["\\udfff"]', "surrogate"),
        ({"a": {1: "x"}}, "payload.a", "key of type int"),
        ({None: 1}, "payload", "key of type NoneType"),
        ({("t",): 1}, "payload", "key of type tuple"),
    ],
)  # fmt: skip
def test_payload_rejects_with_exact_path(payload: dict[Any, Any], path: str, reason: str) -> None:
    with pytest.raises(PayloadValidationError) as info:
        prepare_payload(payload)
    assert info.value.path == path
    assert str(info.value).startswith(f"invalid {path}: ")
    assert reason in info.value.reason
    with pytest.raises(PayloadValidationError, match=r"^invalid "):
        validate_payload(payload)


@pytest.mark.parametrize("payload", [[], "text", 1, Color.RED, {"a": 1}.items()])
def test_payload_must_be_a_dict(payload: object) -> None:
    with pytest.raises(PayloadValidationError, match=r"^invalid payload: "):
        prepare_payload(payload)


def test_none_payload_is_an_empty_object() -> None:
    assert prepare_payload(None) == ({}, (), 2, "{}")


def test_circular_references() -> None:
    loop: dict[str, Any] = {"a": {}}
    loop["a"]["b"] = loop
    with pytest.raises(PayloadValidationError, match=r"^invalid payload\.a\.b: is a circular"):
        prepare_payload(loop)
    items: list[Any] = [1]
    items.append(items)
    with pytest.raises(PayloadValidationError, match=r"^invalid payload\.x\[1\]: is a circular"):
        prepare_payload({"x": items})


def test_shared_references_are_not_circular() -> None:
    shared = {"z": 1}
    result = prepare_payload({"a": shared, "b": [shared, shared]})
    assert result.value == {"a": {"z": 1}, "b": [{"z": 1}, {"z": 1}]}


def nested(levels: int) -> dict[str, Any]:
    """A payload whose deepest container is at ``levels`` (the payload is level 1)."""
    root: dict[str, Any] = {}
    node = root
    for _ in range(levels - 1):
        node["n"] = {}
        node = node["n"]
    return root


def test_depth_limit_boundary() -> None:
    assert prepare_payload(nested(32)).size > 0
    with pytest.raises(PayloadValidationError, match="nested deeper than 32 levels") as info:
        prepare_payload(nested(33))
    assert info.value.path == "payload" + ".n" * 32
    assert prepare_payload(nested(5), max_depth=5).size > 0
    with pytest.raises(PayloadValidationError, match="deeper than 4 levels"):
        prepare_payload(nested(5), max_depth=4)
    with pytest.raises(ValidationError, match="max_depth"):
        prepare_payload({}, max_depth=0)


@pytest.mark.parametrize("kind", ["dict", "list"])
def test_100k_deep_input_has_no_recursion_error(kind: str) -> None:
    deep: Any = {}
    for _ in range(100_000):
        deep = {"n": deep} if kind == "dict" else [deep]
    with pytest.raises(PayloadValidationError, match="nested deeper than 32 levels"):
        prepare_payload({"deep": deep})


def test_size_is_the_compact_utf8_json_length() -> None:
    payload = {"text": "é" * 10, "n": [1, 2.5, True, None]}
    expected = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    result = prepare_payload(payload)
    assert result.json == expected
    assert result.size == len(expected.encode()) == validate_payload(payload)


def test_size_limit_boundary() -> None:
    filler = "x" * 100
    size = len(json.dumps({"t": filler}, separators=(",", ":")))
    assert prepare_payload({"t": filler}, max_bytes=size).size == size
    with pytest.raises(PayloadTooLargeError) as info:
        prepare_payload({"t": filler}, max_bytes=size - 1)
    assert (info.value.size, info.value.limit, info.value.path) == (size, size - 1, "payload")


def test_multibyte_characters_count_as_bytes() -> None:
    with pytest.raises(PayloadTooLargeError):
        prepare_payload({"t": "€" * 100}, max_bytes=250)  # 100 chars, 300 bytes


def test_default_limit_is_256_kib() -> None:
    with pytest.raises(PayloadTooLargeError, match="262144"):
        prepare_payload({"t": "x" * 262_144})


def test_size_is_measured_after_scrubbing() -> None:
    payload = {"password": "p" * 500, "ok": 1}
    assert prepare_payload(payload, max_bytes=100).value == {"ok": 1}


def test_prepare_returns_a_scrubbed_copy_and_never_mutates() -> None:
    payload = {
        "prompt": "hi",
        "max_tokens": 512,
        "password": "hunter2",
        "headers": [["Authorization", "Bearer x"]],
        "nested": {"dsn": "postgres://u:p@h/db", "list": [1, {"api_key": "k"}]},
    }
    before = copy.deepcopy(payload)
    result = prepare_payload(payload)
    assert payload == before
    assert result.value == {
        "prompt": "hi",
        "max_tokens": 512,
        "headers": [["Authorization", REDACTED]],
        "nested": {"list": [1, {}]},
    }
    assert set(result.scrubbed_paths) == {
        "payload.password",
        "payload.headers[0][1]",
        "payload.nested.dsn",
        "payload.nested.list[1].api_key",
    }
    assert result.value["nested"] is not payload["nested"]
    assert json.loads(result.json) == result.value


def test_a_clean_payload_is_sent_as_is() -> None:
    payload = {"a": [1, {"b": "c"}]}
    before = copy.deepcopy(payload)
    result = prepare_payload(payload)
    assert result.value is payload  # documented: no copy when nothing is scrubbed
    assert result.scrubbed_paths == ()
    assert payload == before


def test_modes() -> None:
    payload = {"password": "p", "u": "https://a:b@c.d/", "ok": 1}
    assert prepare_payload(payload, mode="redact").value == {
        "password": REDACTED,
        "u": REDACTED,
        "ok": 1,
    }
    with pytest.raises(SecretInPayloadError) as info:
        prepare_payload(payload, mode="raise")
    assert info.value.paths == ("payload.password",)  # key rules refuse before any I/O
    with pytest.raises(SecretInPayloadError) as info:
        prepare_payload({"u": "https://a:b@c.d/"}, mode="raise")
    assert info.value.paths == ("payload.u",)
    with pytest.raises(ValidationError, match="scrub_mode"):
        prepare_payload({}, mode="nope")  # type: ignore[arg-type]


def test_secret_values_never_appear_in_errors() -> None:
    secret = "hunter2-very-secret"
    cases: list[dict[str, Any]] = [
        {"password": secret, "when": dt.datetime(2030, 1, 1)},
        {"note": secret + "\x00"},
        {"note": secret + "\ud800"},
        {"n": [secret, float("nan")]},
        {"password": secret},
    ]
    for payload in cases:
        with pytest.raises(PayloadValidationError) as info:
            prepare_payload(payload, mode="raise", max_bytes=10_000)
        text = f"{info.value} {info.value!r} {info.value.args} {info.value.path}"
        assert secret not in text


def test_results_may_be_any_json_value() -> None:
    assert prepare_payload([1, "a"], require_object=False, path="result").value == [1, "a"]
    assert prepare_payload("Bearer x", require_object=False, path="result") == (
        REDACTED,
        ("result",),
        len(REDACTED) + 2,
        f'"{REDACTED}"',
    )
    assert prepare_payload(None, require_object=False).json == "null"
    with pytest.raises(PayloadValidationError, match=r"^invalid result: .*set"):
        prepare_payload({1}, require_object=False, path="result")
    with pytest.raises(PayloadValidationError, match=r"^invalid result\[0\]: .*NaN"):
        prepare_payload([float("nan")], require_object=False, path="result")


def test_batch_paths() -> None:
    with pytest.raises(PayloadValidationError, match=r"^invalid jobs\[3\]\.payload\.a: "):
        prepare_payload({"a": object()}, path="jobs[3].payload")


def test_fast_encoder_matches_the_stdlib_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    from supabase_jobs import _payload

    value = {"é": [1, 2.5, -0.0, 1e300, True, None, '\u2028 " \\ \n'], "n": {"m": []}}
    fast = _payload._make_encoder()
    monkeypatch.setattr(json.encoder, "c_make_encoder", None)
    slow = _payload._make_encoder()
    assert fast(value) == slow(value)
    assert fast(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_an_escaped_backslash_u0000_is_not_a_nul() -> None:
    payload = {"a": "\\u0000 is how JSON spells NUL"}  # a backslash, then "u0000"
    assert prepare_payload(payload).value == payload
