"""Secret scrubbing: pure functions for payloads, job results, logs and messages.

Keys are judged word by word by :func:`._secret_keys.is_secret_key` (the key rules live
in that module). Values are judged by shape whatever their key
(:func:`looks_like_secret`): ``Bearer x``, JWTs, PEM private keys, URL userinfo
``scheme://user:pass@``, ``sb_secret_...``, ``sk-...``, ``sk_live_...``, ``ghp_...``,
``xox?-...`` and ``AKIA...``; a string *containing* one is scrubbed as a whole.

Modes (:data:`ScrubMode`): ``remove`` (default) drops a secret dict entry, as the
existing TypeScript app does; ``redact`` keeps the key with the value :data:`REDACTED`;
``raise`` refuses with :class:`SecretInPayloadError` listing every path.

Inside lists nothing is dropped: a secret-looking item becomes :data:`REDACTED` in
``remove`` mode too, so indices and pair shapes stay stable. A two-item list inside a
list whose first item is a secret key name (``[["Authorization", "Bearer x"]]``, the
shape of header lists) has its second item redacted. A dict key that itself looks like a
credential is dropped (it cannot be kept). A :data:`REDACTED` value is never a secret,
so scrubbing is idempotent.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal, NamedTuple

from ._errors import SecretInPayloadError, ValidationError
from ._secret_keys import is_secret_key

__all__ = [
    "HINT_PATTERN",
    "REDACTED",
    "ScrubMode",
    "ScrubResult",
    "is_marker",
    "is_secret_pair",
    "looks_like_secret",
    "render_path",
    "scrub",
    "scrub_text",
    "text_may_contain_secret",
]

ScrubMode = Literal["remove", "redact", "raise"]
#: What a scrubbed value becomes in ``redact`` mode and inside lists.
REDACTED = "[REDACTED]"

# --- value patterns --------------------------------------------------------------------

_TOKEN68 = r"[A-Za-z0-9._~+/-]"  # RFC 6750 bearer token characters
# Starts only where a run of token characters starts: linear time on "eyJeyJeyJ...".
_JWT = r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{6,}\.eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*"
_PEM = r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
_USERINFO = r"(?<=[A-Za-z0-9+.-]://)[^\s/?#@:]*:[^\s/?#@]+(?=@)"  # scheme://user:pass@
_PROVIDER_KEYS = r"\b(?:" + "|".join((
    r"sb_secret_[A-Za-z0-9_-]{8,}",  # Supabase
    r"sk-[A-Za-z0-9_-]{20,}",  # OpenAI, Anthropic
    r"[rs]k_(?:live|test)_[A-Za-z0-9]{10,}",  # Stripe
    r"gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}",  # GitHub
    r"xox[a-z]-[A-Za-z0-9-]{8,}",  # Slack
    r"A[KS]IA[A-Z0-9]{16}\b",  # AWS access key id
)) + ")"  # fmt: skip
_SECRET_VALUE = re.compile(
    rf"\A\s*(?:Bearer|bearer|BEARER)\s+{_TOKEN68}+=*\s*\Z"  # a whole header value
    rf"|(?:Bearer|bearer|BEARER)\s+{_TOKEN68}{{20,}}|{_JWT}|{_PEM}|{_USERINFO}|{_PROVIDER_KEYS}"
)
# A superset of _SECRET_VALUE that is cheap to search: every branch starts with a rare
# literal (not ":", which follows every JSON key), so the engine skips most positions,
# and none needs a word boundary, so it stays a superset on JSON text (escapes such as
# \n or \" only use characters the branches allow).
HINT_PATTERN = (
    r"J(?<=eyJ)|-(?:----BEGIN|(?<=sk-)|(?<=xox[a-z]-))|/(?<=://)(?=[^\s/?#@]*@)"
    r"|_(?:secret_|live_|test_|pat_|(?<=gh[pousr]_))|A(?:KIA|SIA)|B(?:earer|EARER)|bearer"
)
_HINT = re.compile(HINT_PATTERN)


def text_may_contain_secret(text: str) -> bool:
    """Cheap pre-check: ``False`` means no string in ``text`` looks like a secret.

    ``text`` may be one value or a whole JSON document (as :func:`json.dumps` writes it).
    ``True`` only means "look closer": it has false positives, never false negatives.
    """
    return _HINT.search(text) is not None


def looks_like_secret(value: str) -> bool:
    """Whether ``value`` contains a credential-shaped string (see the module docstring).

    Example:
        >>> looks_like_secret("Bearer x"), looks_like_secret("the bearer of news")
        (True, False)
    """
    return _HINT.search(value) is not None and _SECRET_VALUE.search(value) is not None


# --- paths -----------------------------------------------------------------------------


def _segment(key: object) -> str:
    if type(key) is int:
        return f"[{key}]"
    if not isinstance(key, str):  # scrub() accepts any dict key
        return f"[{key!r}]" if key is None or type(key) in (bool, float) else "[<key>]"
    if looks_like_secret(key):
        return f'["{REDACTED}"]'  # the key itself is a credential
    if len(key) > 64:
        key = key[:64] + "…"
    # json.dumps escapes quotes, NULs and lone surrogates: paths go into logs.
    return f".{key}" if key.isidentifier() else f"[{json.dumps(key)}]"


def render_path(root: str, node: tuple[Any, ...] | None, key: object = None) -> str:
    """Render a walk position as ``root.items[3].when`` (``root["a b"]`` for odd keys).

    Args:
        root: The name of the top-level value (``payload``).
        node: A chain of ``(parent_node, key, source)`` tuples; the root's key is None.
        key: A last key or index below ``node``, if any.
    """
    parts = [] if key is None else [_segment(key)]
    while node is not None and node[1] is not None:
        parts.append(_segment(node[1]))
        node = node[0]
    return root + "".join(reversed(parts))


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
    more = f" (and {len(paths) - 1} more)" if len(paths) > 1 else ""
    raise SecretInPayloadError(
        paths[0], f"looks like a secret; scrub mode 'raise' refuses it{more}", paths=paths
    )


def is_marker(value: object) -> bool:
    """Whether ``value`` is the :data:`REDACTED` marker (already scrubbed)."""
    return type(value) is str and value == REDACTED


def is_secret_pair(items: list[Any] | tuple[Any, ...]) -> bool:
    """Whether a list inside a list is a ``[secret_name, value]`` pair to redact."""
    return (
        len(items) == 2
        and type(items[0]) is str
        and len(items[0]) <= 64
        and " " not in items[0]  # a name, not a sentence like "Bearer x"
        and is_secret_key(items[0])
        and not is_marker(items[1])
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

    def scrub_dict(self, src: dict[Any, Any], dst: dict[Any, Any], node: tuple[Any, ...]) -> None:
        for key, item in src.items():
            if type(key) is str and looks_like_secret(key):
                self.found.append(render_path(self.path, node, key))
                continue  # the key itself is a credential: dropped in every mode
            if type(key) is str and is_secret_key(key):
                if self.remove or not is_marker(item):
                    self.found.append(render_path(self.path, node, key))
                    if self.remove:
                        continue
                    item = REDACTED
                dst[key] = item
                continue
            if isinstance(item, str):
                if not is_marker(item) and looks_like_secret(item):
                    self.found.append(render_path(self.path, node, key))
                    if self.remove:
                        continue
                    item = REDACTED
            elif isinstance(item, (dict, list, tuple)):
                item = self.copy_of(item, (node, key, item))
            dst[key] = item

    def scrub_list(self, src: list[Any] | tuple[Any, ...], dst: list[Any], node: Any) -> None:
        pair = node[1] is not None and not isinstance(node[0][2], dict) and is_secret_pair(src)
        for index, item in enumerate(src):
            if pair and index == 1:
                self.found.append(render_path(self.path, node, 1))
                item = REDACTED
            elif isinstance(item, str):
                if not is_marker(item) and looks_like_secret(item):
                    self.found.append(render_path(self.path, node, index))
                    item = REDACTED  # never dropped inside a list: indices stay stable
            elif isinstance(item, (dict, list, tuple)):
                item = self.copy_of(item, (node, index, item))
            dst.append(item)


# --- free text -------------------------------------------------------------------------

_TEXT_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # A whole PEM block (or everything after an unterminated header).
    (re.compile(_PEM + r"(?:.*?-----END[A-Z0-9 ]*-----|.*)", re.S), REDACTED),
    (re.compile(rf"\b(Bearer|BEARER)\s+{_TOKEN68}+=*"), rf"\1 {REDACTED}"),
    (re.compile(rf"\b(bearer)\s+{_TOKEN68}{{16,}}=*"), rf"\1 {REDACTED}"),  # not "bearer of"
    (re.compile(_USERINFO), REDACTED),
    (re.compile(_JWT), REDACTED),
    (re.compile(_PROVIDER_KEYS), REDACTED),
)
# key=value, key: value, "key": "value". A key starts at a word start, and a value is
# only matched after a secret key, from where the last one ended: linear time overall.
_KEY_SEP = re.compile(r"""(?<![\w.-])(?P<key>[A-Za-z_][\w.-]*)["']?\s*[:=]\s*""")
_VALUE = re.compile(
    r""""[^"]*"|'[^']*'|(?:(?:Bearer|Basic|Token|Digest)\s+)?[^\s,;&"'<>(){}\[\]]+"""
)


def _redact_pairs(text: str) -> str:
    parts: list[str] = []
    done = 0
    for match in _KEY_SEP.finditer(text):
        if match.start() < done or not is_secret_key(match["key"]):
            continue
        value = _VALUE.match(text, match.end())
        if value is None:
            continue
        quote = value[0][0] if value[0][0] in "'\"" else ""
        parts += (text[done : match.end()], quote, REDACTED, quote)
        done = value.end()
    return "".join(parts) + text[done:] if parts else text


def scrub_text(text: str) -> str:
    """Redact credential-looking substrings of free text (log lines, error messages).

    Replaces the value of ``key=value``, ``key: value`` and ``"key": "value"`` pairs whose
    key is secret (:func:`is_secret_key`), bearer tokens (``Bearer [REDACTED]``), JWTs,
    PEM private key blocks, URL credentials (``postgres://[REDACTED]@host``) and
    provider keys (``sb_secret_``, ``sk-``, ``sk_live_``, ``ghp_``, ``xox?-``, ``AKIA``).
    Idempotent.

    Example:
        >>> scrub_text("connect failed: password=hunter2 host=db")
        'connect failed: password=[REDACTED] host=db'
    """
    if ":" in text or "=" in text:
        text = _redact_pairs(text)  # first, so "Authorization: Bearer x" goes as a whole
    for pattern, replacement in _TEXT_RULES:
        text = pattern.sub(replacement, text)
    return text
