"""Payload preparation: validate, scrub and serialize a payload or job result in one pass.

Every failure raises a :class:`PayloadValidationError` (over the size limit:
:class:`PayloadTooLargeError`) naming the field path, ``payload.items[3].when`` or
``payload["a b"]``, and never the value. All functions are pure.

A payload costs one iterative walk and one serialization (:func:`prepare_payload`). The
walk checks exact JSON-native types, str keys and depth (a cycle overflows the depth with
an ancestor seen again) and applies the secret *key* rules, reading the caller's object in
place (it walks again, copying, only when a key must be scrubbed; the caller's object is
never modified). The compact JSON text then gives the rest: the encoder refuses NaN and
Infinity, a NUL shows as ``\\u0000``, a lone surrogate fails UTF-8 encoding (only then is
the value searched for the path), its byte length is the size, and a cheap search of it
decides whether the value scrub (:func:`._sanitize.scrub`) must run at all.
"""

from __future__ import annotations

import json
import json.encoder
import math
from collections.abc import Callable
from typing import Any, NamedTuple

from ._constants import DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_MAX_PAYLOAD_DEPTH
from ._errors import PayloadTooLargeError, PayloadValidationError, ValidationError
from ._sanitize import (
    REDACTED,
    Positions,
    ScrubMode,
    check_mode,
    is_marker,
    is_secret_pair,
    key_is_unsafe,
    raise_secrets,
    render_path,
    scrub,
    text_may_contain_secret,
)
from ._secret_keys import PLAIN_KEYS, is_secret_key
from ._validate import encodes_as_utf8

__all__ = ["PreparedPayload", "prepare_payload", "validate_payload"]


def _make_encoder() -> Callable[[Any], str]:
    """The compact JSON encoding httpx sends; the C encoder is built once, not per call.

    ``check_circular`` is off: the walk already refused cycles.
    """
    encoder = json.JSONEncoder(
        ensure_ascii=False, allow_nan=False, separators=(",", ":"), check_circular=False
    )
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return encoder.encode
    # Arguments as JSONEncoder.iterencode passes them: markers, default, encoder, indent,
    # key and item separators, sort_keys, skipkeys, allow_nan.
    chunks = make(
        None, encoder.default, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )
    return lambda value: "".join(chunks(value, 0))


_encode = _make_encoder()
_HINTS = {
    "tuple": "use a list", "set": "use a list", "frozenset": "use a list",
    "datetime": "use an ISO 8601 string", "date": "use an ISO 8601 string",
    "Decimal": "use a float or a string", "UUID": "use str(uuid)",
    "bytes": "use a str (base64 for binary)", "bytearray": "use a str (base64 for binary)",
}  # fmt: skip


class PreparedPayload(NamedTuple):
    """A validated, scrubbed payload, ready for the row.

    Attributes:
        value: The payload to send: a scrubbed copy, or the caller's object itself when
            nothing needed scrubbing (it is never modified; treat it as read-only).
        scrubbed_paths: Paths removed or redacted by the scrubber (never values).
        size: Bytes of the compact UTF-8 JSON encoding, as checked against the limit.
        json: That encoding (``separators=(",", ":")``, ``ensure_ascii=False``).
    """

    value: Any
    scrubbed_paths: tuple[str, ...]
    size: int
    json: str


def _type_error(path: str, value: object) -> PayloadValidationError:
    name = type(value).__name__
    hint = _HINTS.get(name, "JSON-native values only: dict, list, str, int, float, bool, None")
    return PayloadValidationError(path, f"has unsupported type {name}; {hint}")


def _depth_error(
    root: str, node: tuple[Any, ...], key: object, child: object, limit: int
) -> PayloadValidationError:
    # A cycle always overflows the depth limit; report where it first closes.
    chain: list[tuple[Any, ...]] = []
    walker: tuple[Any, ...] | None = node
    while walker is not None:
        chain.append(walker)
        walker = walker[0]
    seen: set[int] = set()
    for ancestor in [*reversed(chain), (node, key, child)]:
        if id(ancestor[2]) in seen:
            where = render_path(root, *ancestor[:2])
            return PayloadValidationError(where, "is a circular reference")
        seen.add(id(ancestor[2]))
    where = render_path(root, node, key)
    return PayloadValidationError(where, f"is nested deeper than {limit} levels")


class _CopyNeeded(Exception):
    """An in-place walk met something to scrub; walk again making a copy."""


def _walk(  # noqa: C901
    root: Any, max_depth: int, path: str, mode: ScrubMode | None, copy: bool
) -> tuple[Any, list[str]]:
    """Check types, str keys and depth under ``root``; apply the secret key rules.

    Returns the value (a scrubbed copy with ``copy``) and the scrubbed paths. Without
    ``copy`` nothing changes: a due ``remove``/``redact`` raises :class:`_CopyNeeded`.
    ``mode`` None only validates; ``raise`` reports secret entries without changing them.
    """
    # One flat loop on purpose: this is the hot path of every dispatch, and helper calls
    # per container or per key measurably cost (bench/dispatch_overhead.py).
    scrub_keys = mode is not None
    change = mode == "remove" or mode == "redact"
    plain = PLAIN_KEYS
    secret_key = is_secret_key
    found: list[str] = []
    positions: Positions = {}  # key positions for placeholders of unsafe keys
    top = root.copy() if copy else root
    # A list at the top counts as "in a list": ["password", "hunter2"] is a pair.
    stack: list[tuple[Any, tuple[Any, ...], int, bool]] = [
        (top, (None, None, root), 1, type(root) is list)
    ]
    pop = stack.pop
    push = stack.append
    while stack:
        dst, node, depth, in_list = pop()
        if type(dst) is dict:
            dropped: list[str] = []
            for key, value in dst.items():
                if key in plain:  # the common case: a str key known not to be secret
                    pass
                elif type(key) is not str:
                    raise PayloadValidationError(
                        render_path(path, node),
                        f"has a key of type {type(key).__name__}; JSON object keys are str",
                    )
                elif scrub_keys and secret_key(key):
                    if key_is_unsafe(key):
                        # The key holds a credential ("Bearer ..."): dropped in every mode,
                        # as scrub() does, and reported once (not again by scrub()).
                        if change and not copy:
                            raise _CopyNeeded
                        found.append(render_path(path, node, key, positions))
                        if change:
                            dropped.append(key)
                        continue
                    if mode == "remove" or not is_marker(value):
                        if change and not copy:
                            raise _CopyNeeded
                        found.append(render_path(path, node, key, positions))
                        if mode == "remove":
                            dropped.append(key)
                        elif mode == "redact":
                            dst[key] = REDACTED
                    continue
                kind = type(value)
                if kind is str or kind is int or kind is float or kind is bool or value is None:
                    continue
                if kind is not dict and kind is not list:
                    raise _type_error(render_path(path, node, key), value)
                if depth >= max_depth:
                    raise _depth_error(path, node, key, value, max_depth)
                child = value
                if copy:
                    dst[key] = child = value.copy()
                push((child, (node, key, value), depth + 1, False))
            for key in dropped:
                del dst[key]
            continue
        if in_list and scrub_keys and is_secret_pair(dst):
            if change and not copy:
                raise _CopyNeeded
            found.append(render_path(path, node, 1))
            if change:
                dst[1] = REDACTED
        for index, value in enumerate(dst):
            kind = type(value)
            if kind is str or kind is int or kind is float or kind is bool or value is None:
                continue
            if kind is not dict and kind is not list:
                raise _type_error(render_path(path, node, index), value)
            if depth >= max_depth:
                raise _depth_error(path, node, index, value, max_depth)
            child = value
            if copy:
                dst[index] = child = value.copy()
            push((child, (node, index, value), depth + 1, True))
    return top, found


def _locate(value: Any, path: str, bad: Callable[[object], bool]) -> tuple[str, str] | None:
    """Find the first key or scalar for which ``bad`` holds: ``(path, "key"|"value")``."""
    if not isinstance(value, (dict, list)):
        return (path, "value") if bad(value) else None
    stack: list[tuple[Any, tuple[Any, ...]]] = [(value, (None, None, value))]
    while stack:
        container, node = stack.pop()
        items = container.items() if type(container) is dict else enumerate(container)
        for key, item in items:
            if type(key) is str and bad(key):
                return render_path(path, node, key), "key"
            if isinstance(item, (dict, list)):
                stack.append((item, (node, key, item)))
            elif bad(item):
                return render_path(path, node, key), "value"
    return None


def _bad_number(value: object) -> bool:
    if type(value) is float:
        return not math.isfinite(value)
    if type(value) is int:
        try:
            int.__repr__(value)
        except ValueError:  # over sys.get_int_max_str_digits()
            return True
    return False


def _prepare(
    payload: object,
    mode: ScrubMode | None,
    max_bytes: int,
    max_depth: int,
    path: str,
    require_object: bool,
) -> PreparedPayload:
    if payload is None and require_object:
        payload = {}
    kind = type(payload)
    if kind is dict or (kind is list and not require_object):
        if max_depth < 1:
            raise ValidationError("max_depth", "must be at least 1")
        # Most payloads hold no secret: check them in place and copy only when needed.
        try:
            value, found = _walk(payload, max_depth, path, mode, copy=False)
        except _CopyNeeded:
            value, found = _walk(payload, max_depth, path, mode, copy=True)
    elif require_object:
        raise PayloadValidationError(path, "must be a JSON object (a dict with str keys)")
    elif kind is str or kind is int or kind is float or kind is bool or payload is None:
        value, found = payload, []
    else:
        raise _type_error(path, payload)
    if found and mode == "raise":
        raise_secrets(found)
    try:
        text = _encode(value)
    except ValueError:
        where = _locate(value, path, _bad_number) or (path, "value")
        raise PayloadValidationError(
            where[0], "is NaN, Infinity or an integer too large for JSON"
        ) from None
    except TypeError:  # only a non-str key equal to a known str key gets past the walk
        raise PayloadValidationError(path, "has a key that is not a str") from None
    if "\\u0000" in text and (
        nul := _locate(value, path, lambda item: type(item) is str and "\x00" in item)
    ):
        raise PayloadValidationError(nul[0], f"{nul[1]} contains a NUL character")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        bad = _locate(value, path, lambda item: type(item) is str and not encodes_as_utf8(item))
        where = bad or (path, "value")
        raise PayloadValidationError(
            where[0], f"{where[1]} contains a lone surrogate (not valid UTF-8)"
        ) from None
    if mode is not None and text_may_contain_secret(text, json_text=True):
        result = scrub(value, mode=mode, path=path)
        if result.paths:
            found.extend(result.paths)
            value = result.value
            text = _encode(value)
            size = len(text.encode("utf-8"))
    if size > max_bytes:
        raise PayloadTooLargeError(
            path,
            f"is {size} bytes as JSON, over the limit of {max_bytes}",
            size=size,
            limit=max_bytes,
        )
    return PreparedPayload(value, tuple(found), size, text)


def prepare_payload(
    payload: object,
    *,
    mode: ScrubMode = "remove",
    max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    max_depth: int = DEFAULT_MAX_PAYLOAD_DEPTH,
    path: str = "payload",
    require_object: bool = True,
) -> PreparedPayload:
    """Validate and scrub a payload in one pass; what a dispatch calls.

    Args:
        payload: A ``dict`` with ``str`` keys and JSON-native values (``dict``, ``list``,
            ``str``, ``int``, ``float``, ``bool``, ``None``); ``None`` means ``{}``.
        mode: The scrub mode: ``remove`` (default), ``redact`` or ``raise``.
        max_bytes: Limit on the compact UTF-8 JSON size of the scrubbed payload.
        max_depth: Limit on nesting; the payload object itself is level 1.
        path: The name of the payload in paths (``jobs[3].payload`` in a batch).
        require_object: ``False`` accepts any JSON value at the top (job results).

    Returns:
        The scrubbed copy, the scrubbed paths, its size and its JSON text.

    Raises:
        PayloadValidationError: bad type, key, depth, NaN, NUL or surrogate, at its path.
        PayloadTooLargeError: over ``max_bytes``.
        SecretInPayloadError: ``mode="raise"`` and a secret was found.

    Example:
        >>> prepare_payload({"prompt": "hi", "password": "x"}).scrubbed_paths
        ('payload.password',)
    """
    check_mode(mode)
    return _prepare(payload, mode, max_bytes, max_depth, path, require_object)


def validate_payload(
    payload: object,
    *,
    max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    max_depth: int = DEFAULT_MAX_PAYLOAD_DEPTH,
    path: str = "payload",
    require_object: bool = True,
) -> int:
    """Validate a payload without scrubbing it (rules of :func:`prepare_payload`).

    Returns the compact UTF-8 JSON size in bytes; raises :class:`PayloadValidationError`
    (or :class:`PayloadTooLargeError`) naming the path.
    """
    return _prepare(payload, None, max_bytes, max_depth, path, require_object).size
