"""Secret scrubbing: pure functions for payloads, job results, logs and messages.

Keys are judged word by word by :func:`._secret_keys.is_secret_key`; strings by
:func:`._secret_text.looks_like_secret`, which is true exactly when :func:`scrub_text`
would change the string (one finder, one rule set: :mod:`._secret_rules`). A string
*containing* a credential or a secret ``key=value`` pair is scrubbed as a whole.

Modes (:data:`ScrubMode`): ``remove`` (default) drops a secret dict entry, as the
existing TypeScript app does; ``redact`` keeps the key with the value :data:`REDACTED`;
``raise`` refuses with :class:`SecretInPayloadError` listing every path.

Inside lists nothing is dropped: a secret-looking item becomes :data:`REDACTED` in
``remove`` mode too, so indices and pair shapes stay stable. A two-item list at the top
or inside a list whose first item is a secret key name (``[["Authorization", "Bearer
x"]]``, the shape of header lists; ``["password", "hunter2"]``) has its second item
redacted, and so does the item after a secret command-line flag (``["--password",
"x"]``). A dict key that is unsafe to print (:func:`key_is_unsafe`: it holds a credential,
or is a secret name with more in it) is dropped in every mode: what cannot be logged is
not stored either. A :data:`REDACTED` value is never a secret, so scrubbing is idempotent.

Paths never reveal a secret: a key that holds one, or a secret-named key that is not a
plain ASCII name, is rendered as a placeholder with its position, ``payload.env[<key
1>]`` (:func:`render_path`); :func:`summarize_paths` bounds a list for one log line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

from ._errors import SecretInPayloadError, ValidationError
from ._secret_keys import PLAIN_KEYS, is_secret_key
from ._secret_text import (
    CLEAN_STRINGS,
    REDACTED,
    looks_like_secret,
    scrub_text,
    text_may_contain_secret,
)

__all__ = [
    "REDACTED",
    "SHOWN_PATHS",
    "ScrubMode",
    "ScrubResult",
    "is_marker",
    "is_secret_flag",
    "is_secret_pair",
    "key_is_unsafe",
    "looks_like_secret",
    "render_path",
    "scrub",
    "scrub_text",
    "summarize_paths",
    "text_may_contain_secret",
]

ScrubMode = Literal["remove", "redact", "raise"]
#: Paths shown in one log line or message; the rest are counted.
SHOWN_PATHS = 20
_SHOWN_PATH_LENGTH = 200

# --- paths -----------------------------------------------------------------------------

_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
#: Per walk: id(container) -> {key: 1-based position}, built once per container.
Positions = dict[int, dict[Any, int]]


def key_is_unsafe(key: str) -> bool:
    """Whether printing ``key`` could reveal a secret.

    True for a key that holds a credential or a secret pair itself (anything
    :func:`scrub_text` would change: ``DB_PASSWORD=hunter2``, ``Authorization: Basic
    dXNl...``) and for a secret-named key that is not a plain ASCII name of at most 64
    characters (``password hunter2``, look-alike letters).
    """
    if looks_like_secret(key):
        return True
    return is_secret_key(key) and _PLAIN_NAME.fullmatch(key) is None


def _unprintable(key: str) -> bool:
    """:func:`key_is_unsafe`, or a phrase with a secret name in it (``api_key abc123``).

    Such a key is kept in the payload (its own words are not a secret name) but never
    printed: the words after the name may be the value.
    """
    if key_is_unsafe(key):
        return True
    parts = key.split()
    return len(parts) > 1 and any(is_secret_key(part) for part in parts)


def _position(container: object, key: object, positions: Positions | None) -> int:
    if not isinstance(container, dict):
        return 0
    if positions is None:
        return next((i for i, k in enumerate(container, 1) if k == key), 0)
    table = positions.get(id(container))
    if table is None:
        table = positions[id(container)] = {k: i for i, k in enumerate(container, 1)}
    return table.get(key, 0)


def _segment(key: object, container: object, positions: Positions | None) -> str:
    if type(key) is int:
        return f"[{key}]"
    if not isinstance(key, str):  # scrub() accepts any dict key
        return f"[{key!r}]" if key is None or type(key) in (bool, float) else "[<key>]"
    if _unprintable(key):
        position = _position(container, key, positions)
        return f"[<key {position}>]" if position else "[<key>]"
    if len(key) > 64:
        key = key[:64] + "…"
    # json.dumps escapes quotes, NULs, lone surrogates and non-ASCII: paths go into logs.
    return f".{key}" if key.isidentifier() else f"[{json.dumps(key)}]"


def render_path(
    root: str, node: tuple[Any, ...] | None, key: object = None, positions: Positions | None = None
) -> str:
    """Render a walk position as ``root.items[3].when`` (``root["a b"]`` for odd keys).

    A key that is unsafe to print (:func:`key_is_unsafe`, or a phrase with a secret name
    in it: ``api_key abc123``) becomes ``[<key N>]``, N its 1-based position in its
    object.

    Args:
        root: The name of the top-level value (``payload``).
        node: A chain of ``(parent_node, key, source)`` tuples; the root's key is None.
        key: A last key or index below ``node``, if any.
        positions: A cache of key positions for one walk (optional).
    """
    parts = [] if key is None or node is None else [_segment(key, node[2], positions)]
    while node is not None and node[1] is not None:
        parts.append(_segment(node[1], node[0][2], positions))
        node = node[0]
    return root + "".join(reversed(parts))


def summarize_paths(paths: Sequence[str], limit: int = SHOWN_PATHS) -> str:
    """The first ``limit`` paths (each cut at 200 characters) and how many more there are.

    Example:
        >>> summarize_paths([f"jobs[{i}].payload.password" for i in range(10_000)])[-31:]
        'payload.password and 9,980 more'
    """
    shown = [
        p if len(p) <= _SHOWN_PATH_LENGTH else p[: _SHOWN_PATH_LENGTH - 1] + "…"
        for p in paths[:limit]
    ]
    more = len(paths) - len(shown)
    return ", ".join(shown) + (f" and {more:,} more" if more > 0 else "")


# --- scrubbing -------------------------------------------------------------------------


class ScrubResult(NamedTuple):
    """What :func:`scrub` returns.

    Attributes:
        value: The scrubbed copy (fresh dicts and lists; the input is never mutated).
        paths: The paths of scrubbed fields, never their values, in walk order.
    """

    value: Any
    paths: tuple[str, ...]


def check_mode(mode: object) -> None:
    """Raise :class:`ValidationError` unless ``mode`` is a :data:`ScrubMode`."""
    if mode not in ("remove", "redact", "raise"):
        raise ValidationError("scrub_mode", "must be 'remove', 'redact' or 'raise'")


def raise_secrets(paths: list[str]) -> None:
    """Raise the ``raise``-mode :class:`SecretInPayloadError` for ``paths``."""
    more = f" (and {len(paths) - 1:,} more)" if len(paths) > 1 else ""
    raise SecretInPayloadError(
        paths[0], f"looks like a secret; scrub mode 'raise' refuses it{more}", paths=paths
    )


def is_marker(value: object) -> bool:
    """Whether ``value`` is the :data:`REDACTED` marker (already scrubbed)."""
    return type(value) is str and value == REDACTED


def is_secret_pair(items: list[Any] | tuple[Any, ...]) -> bool:
    """Whether a list (at the top or inside a list) is a ``[secret_name, value]`` pair."""
    return (
        len(items) == 2
        and type(items[0]) is str
        and len(items[0]) <= 64
        and " " not in items[0]  # a name, not a sentence like "Bearer x"
        and is_secret_key(items[0])
        and not is_marker(items[1])
        and not looks_like_secret(items[0])  # a credential, not the name of one
    )


def is_secret_flag(item: object) -> bool:
    """Whether a list item is a command-line flag whose next item is a secret.

    Example:
        >>> is_secret_flag("--password"), is_secret_flag("--password-file")
        (True, False)
    """
    return (
        type(item) is str
        and item[:1] == "-"
        and len(item) <= 130
        and "=" not in item  # "--password=x" is a string with a secret pair
        and " " not in item
        and is_secret_key(item.lstrip("-"))
    )


def scrub(value: object, *, mode: ScrubMode = "remove", path: str = "payload") -> ScrubResult:
    """Scrub secrets out of a JSON-like value (rules in the module docstring).

    Dicts and lists (tuples too, returned as lists) are copied, never mutated; other
    objects are returned as they are. The walk is iterative, so any depth works, and a
    circular structure comes back as an equally circular copy.

    Args:
        value: A payload, job result or log record.
        mode: ``remove`` (default), ``redact`` or ``raise``.
        path: The name of ``value`` in the returned paths and in errors.

    Returns:
        The scrubbed copy and the scrubbed paths.

    Raises:
        SecretInPayloadError: ``mode`` is ``raise`` and a secret was found.
        ValidationError: ``mode`` is not a scrub mode.

    Example:
        >>> scrub({"prompt": "hi", "api_key": "x", "max_tokens": 5})
        ScrubResult(value={'prompt': 'hi', 'max_tokens': 5}, paths=('payload.api_key',))
    """
    check_mode(mode)
    scrubber = _Scrubber(mode == "remove", path)
    if isinstance(value, str):
        if not is_marker(value) and looks_like_secret(value):
            scrubber.found.append(path)
            value = REDACTED
    elif isinstance(value, (dict, list, tuple)):
        value = scrubber.run(value)
    if scrubber.found and mode == "raise":
        raise_secrets(scrubber.found)
    return ScrubResult(value, tuple(scrubber.found))


class _Scrubber:
    """One iterative copy-and-scrub walk; ``memo`` maps source ids to their copies."""

    def __init__(self, remove: bool, path: str) -> None:
        self.remove = remove
        self.path = path
        self.found: list[str] = []
        self.memo: dict[int, Any] = {}
        self.stack: list[tuple[Any, Any, tuple[Any, ...]]] = []
        self.positions: Positions = {}

    def run(self, root: Any) -> Any:
        top = self.copy_of(root, (None, None, root))
        while self.stack:
            src, dst, node = self.stack.pop()
            if isinstance(src, dict):
                self.scrub_dict(src, dst, node)
            else:
                self.scrub_list(src, dst, node)
        return top

    def copy_of(self, src: Any, node: tuple[Any, ...]) -> Any:
        copy = self.memo.get(id(src))
        if copy is None:
            copy = self.memo[id(src)] = {} if isinstance(src, dict) else []
            self.stack.append((src, copy, node))
        return copy

    def report(self, node: tuple[Any, ...], key: object) -> None:
        self.found.append(render_path(self.path, node, key, self.positions))

    def scrub_dict(self, src: dict[Any, Any], dst: dict[Any, Any], node: tuple[Any, ...]) -> None:
        for key, item in src.items():
            if key in PLAIN_KEYS and key in CLEAN_STRINGS:
                pass  # the common case: a key known to be neither secret nor a credential
            elif type(key) is str and key_is_unsafe(key):
                self.report(node, key)
                continue  # a key that holds a credential: dropped in every mode
            elif type(key) is str and is_secret_key(key):
                if self.remove or not is_marker(item):
                    self.report(node, key)
                    if self.remove:
                        continue
                    item = REDACTED
                dst[key] = item
                continue
            if isinstance(item, str):
                if item not in CLEAN_STRINGS and not is_marker(item) and looks_like_secret(item):
                    self.report(node, key)
                    if self.remove:
                        continue
                    item = REDACTED
            elif isinstance(item, (dict, list, tuple)):
                item = self.copy_of(item, (node, key, item))
            dst[key] = item

    def scrub_list(self, src: list[Any] | tuple[Any, ...], dst: list[Any], node: Any) -> None:
        # A pair at the top or inside a list; under a dict key, ["token", "\n"] is data.
        pair = (node[1] is None or not isinstance(node[0][2], dict)) and is_secret_pair(src)
        after_flag = False
        for index, item in enumerate(src):
            if (pair and index == 1) or (after_flag and not is_marker(item)):
                self.report(node, index)
                item = REDACTED  # never dropped inside a list: indices stay stable
            elif isinstance(item, str):
                if item not in CLEAN_STRINGS and not is_marker(item) and looks_like_secret(item):
                    self.report(node, index)
                    item = REDACTED
            elif isinstance(item, (dict, list, tuple)):
                item = self.copy_of(item, (node, index, item))
            after_flag = (
                type(src[index]) is str and src[index][:1] == "-" and (is_secret_flag(src[index]))
            )
            dst.append(item)
