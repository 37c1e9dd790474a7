"""Payload preparation: validate, scrub and serialize a payload or job result in one pass.

Every failure raises a :class:`PayloadValidationError` (over the size limit:
:class:`PayloadTooLargeError`) naming the field path, ``payload.items[3].when`` or
``payload["a b"]``, and never the value. All functions are pure.

A payload costs one iterative walk and one serialization (:func:`prepare_payload`). The
walk checks exact JSON-native types, str keys and depth (a cycle overflows the depth with
an ancestor seen again) and looks for secret *keys*, reading the caller's object in place
(it is never modified). The compact JSON text then gives the rest: the encoder refuses
NaN and Infinity, a NUL shows as ``\\u0000``, a lone surrogate fails UTF-8 encoding (only
then is the value searched for the path), its byte length is the size, and a cheap gate
over it (:func:`._secret_text.text_may_contain_secret`) decides whether the full scrub
(:func:`._sanitize.scrub`, which makes the copy) must run at all; a secret key found by
the walk runs it directly.
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


class _ScrubNeeded(Exception):
    """The validation walk met a secret key or pair: the full scrub must run."""


def _walk(root: Any, max_depth: int, path: str, mode: ScrubMode | None) -> list[str]:  # noqa: C901
    """Check types, str keys and depth under ``root``; look for secret keys and pairs.

    Nothing is changed. ``mode`` None only validates; ``remove``/``redact`` raise
    :class:`_ScrubNeeded` at the first secret key or pair (:func:`._sanitize.scrub` then
    does the work); ``raise`` returns their paths.
    """
    # One flat loop on purpose: this is the hot path of every dispatch, and helper calls
    # per container or per key measurably cost (bench/dispatch_overhead.py).
    scrub_keys = mode is not None
    change = mode == "remove" or mode == "redact"
    plain = PLAIN_KEYS
    secret_key = is_secret_key
    found: list[str] = []
    positions: Positions = {}  # key positions for placeholders of unsafe keys
    # A list at the top counts as "in a list": ["password", "hunter2"] is a pair.
    stack: list[tuple[Any, tuple[Any, ...], int, bool]] = [
        (root, (None, None, root), 1, type(root) is list)
    ]
    pop = stack.pop
    push = stack.append
    while stack:
        container, node, depth, in_list = pop()
        if type(container) is dict:
            for key, value in container.items():
                if key in plain:  # the common case: a str key known not to be secret
                    pass
                elif type(key) is not str:
                    raise PayloadValidationError(
                        render_path(path, node),
                        f"has a key of type {type(key).__name__}; JSON object keys are str",
                    )
                elif scrub_keys and secret_key(key):
                    # An already redacted value is not reported again (idempotence).
                    if key_is_unsafe(key) or mode == "remove" or not is_marker(value):
                        if change:
                            raise _ScrubNeeded
                        found.append(render_path(path, node, key, positions))
                    continue
                kind = type(value)
                if kind is str or kind is int or kind is float or kind is bool or value is None:
                    continue
                if kind is not dict and kind is not list:
                    raise _type_error(render_path(path, node, key), value)
                if depth >= max_depth:
                    raise _depth_error(path, node, key, value, max_depth)
                push((value, (node, key, value), depth + 1, False))
            continue
        if in_list and scrub_keys and is_secret_pair(container):
            if change:
                raise _ScrubNeeded
            found.append(render_path(path, node, 1))
        for index, value in enumerate(container):
            kind = type(value)
            if kind is str or kind is int or kind is float or kind is bool or value is None:
                continue
            if kind is not dict and kind is not list:
                raise _type_error(render_path(path, node, index), value)
            if depth >= max_depth:
                raise _depth_error(path, node, index, value, max_depth)
            push((value, (node, index, value), depth + 1, True))
    return found


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
    scrubbed = False  # the full scrub has run
    kind = type(payload)
    if kind is dict or (kind is list and not require_object):
        if max_depth < 1:
            raise ValidationError("max_depth", "must be at least 1")
        # Most payloads hold no secret: check them in place. One that has a secret key is
        # validated, then scrubbed by the full scrub (which applies the key rules too).
        value = payload
        try:
            found = _walk(payload, max_depth, path, mode)
        except _ScrubNeeded:
            assert mode is not None  # only remove/redact raise it
            _walk(payload, max_depth, path, None)  # finish validating first
            result = scrub(payload, mode=mode, path=path)
            value, found, scrubbed = result.value, list(result.paths), True
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
    # One scan for both rare cases: the gate answers True for any \u escape, NUL included.
    rare = mode is None or scrubbed or text_may_contain_secret(text, json_text=True)
    if (
        rare
        and "\\u0000" in text
        and (nul := _locate(value, path, lambda item: type(item) is str and "\x00" in item))
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
    if rare and mode is not None and not scrubbed:
        # The full scrub covers the key rules too; it walks the caller's payload, so
        # placeholder positions ([<key N>]) count the keys the caller sent.
        result = scrub(payload, mode=mode, path=path)
        if result.paths:
            found = list(result.paths)
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
    # tuple.__new__ skips the NamedTuple's Python-level __new__ (hot path).
    return tuple.__new__(PreparedPayload, (value, tuple(found), size, text))


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
