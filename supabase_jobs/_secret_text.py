"""Credentials in text: one finder behind ``scrub_text`` and the payload value scrubber.

:func:`secret_spans` lists the character spans of a string that hold a secret, using the
rules of :mod:`._secret_rules`: PEM private key blocks, the value of a ``key=value``,
``key: value``, ``"key": "value"`` or ``--key value`` pair whose key is secret
(:func:`._secret_keys.is_secret_key`), bearer tokens, ``Basic`` credentials, JWTs, URL
userinfo and provider key formats. :func:`scrub_text` replaces the spans;
:func:`looks_like_secret` (the payload value rule) is true when there is one. The two
share this one finder, so a string that ``scrub_text`` changes is always scrubbed from a
payload too. Look-alike letters are folded first (:func:`._secret_rules.fold`).

:func:`text_may_contain_secret` is the cheap gate in front: it never misses a string that
has spans, on the string itself or on JSON text holding it, and is much faster than the
finder on the common clean payload.
"""

from __future__ import annotations

import binascii
import re

from . import _secret_rules as rules
from ._secret_keys import is_secret_key

__all__ = [
    "CLEAN_STRINGS",
    "REDACTED",
    "looks_like_secret",
    "scrub_text",
    "secret_spans",
    "text_may_contain_secret",
]

#: What a scrubbed value becomes in ``redact`` mode, inside lists and in text.
REDACTED = "[REDACTED]"

# --- the gate ---------------------------------------------------------------------------

# Each trigger starts with one literal character, which the engine finds with a fast scan
# (an alternation of several first characters makes it test every position: slower),
# and is searched only when its character occurs at all. Provider tokens are long, so
# most "_" and "-" (in keys, ids, model names) fail the length lookahead at once.
_TRIGGERS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (char, re.compile(source))
    for char, source in (
        ("-", r"-(?:-|(?<=\"-)|(?<=\s-)(?=\w)|(?<=\A-)|(?<=AGE-)|(?=[A-Za-z0-9_-]{8})"
              r"(?:(?<=sk-)|(?<=gl[a-z]{2}-)|(?<=gl[a-z]{3}-)|(?<=xox[abeoprs]-)|(?<=xapp-)"
              r"|(?<=GOCSPX-)|(?<=pypi-)|(?<=key-)|(?<=sq0atp-)|(?<=sq0csp-)))"),
        ("_", r"_(?=[A-Za-z0-9_-]{8})(?:(?<=_secret_)|(?<=_live_)|(?<=_test_)|(?<=whsec_)"
              r"|(?<=gh[pousr]_)|(?<=_pat_)|(?<=hf_)|(?<=npm_)|(?<=shp[a-z]{2}_)|(?<=_v1_)"
              r"|(?<=_api_)|(?<=gsk_)|(?<=r8_))"),
        ("J", r"J(?<=eyJ)"),
        ("A", r"A(?:KIA|SIA|Iza)"),
        ("B", r"B(?:earer|EARER|asic|ASIC)"),
        ("b", r"b(?:earer|asic)"),
        ("S", r"S(?:K[0-9a-fA-F]|G\.)"),
        # JSON with ensure_ascii (json.dumps's default) spells letters as \uXXXX; without
        # it, \u escapes only a control character (a NUL, which the payload path refuses).
        ("\\", r"\\u[0-9a-fA-F]{4}"),
    )
)  # fmt: skip

# A key=value pair: a separator with a key stem in the word run before it. The run is read
# backwards (the reversed window before the separator): JSON-escaped whitespace (\n,
# \u001c), an (escaped) quote, then key characters up to a stem. A URL scheme's "://" is
# not a separator (nor is it in the finder). In JSON text a key's closing quote then ":"
# is structure; a quote inside a string is escaped, so \": still counts.
_STEMS_REVERSED = "|".join(re.escape(stem[::-1]) for stem in rules.KEY_STEMS)
_RUN_REVERSED = re.compile(
    r"""(?:\s|[ntrfb]\\|[0-9a-fA-F]{2}00u\\){0,8}(?:["']\\?)?[\w.-]{0,130}?"""
    rf"(?i:{_STEMS_REVERSED})"
)
# A URL's "://" is a trigger when credentials or a webhook path follow (the match is then
# longer than the colon), else no separator; the JSON variant skips a key's '":'.
_URL = r"(?://(?=[^\s/?#@]*@|hooks\.slack\.com/|discord(?:app)?\.com/api/webhooks/)|(?!//))"
_EQUALS = re.compile("=")
_COLON = re.compile(":" + _URL)
_COLON_JSON = re.compile(r':(?:(?<!":)|(?<=\\":))' + _URL)


def _may_hold_secret_after_separator(text: str, json_text: bool) -> bool:
    """A URL with credentials or a webhook, or a separator with a key stem before it."""
    reverse = ""  # made once, on the first separator
    for char, separator in (("=", _EQUALS), (":", _COLON_JSON if json_text else _COLON)):
        if char in text:
            for match in separator.finditer(text):
                end = match.start()
                if match.end() > end + 1:
                    return True
                reverse = reverse or text[::-1]
                if _RUN_REVERSED.match(reverse, len(text) - end) is not None:
                    return True
    return False


def text_may_contain_secret(text: str, *, json_text: bool = False) -> bool:
    """Cheap pre-check: ``False`` means :func:`secret_spans` finds nothing in ``text``.

    ``True`` only means "look closer": it has false positives, never false negatives.
    A ``\\u`` escape (a NUL in JSON text, for one) always answers ``True``.

    Args:
        text: One string, or JSON text holding strings (as :func:`json.dumps` writes it).
        json_text: ``text`` is JSON written with ``ensure_ascii=False`` (as the payload
            encoder writes it): the ``":`` after each object key is skipped (faster).
    """
    text = rules.fold(text)
    for char, pattern in _TRIGGERS:
        if char in text and pattern.search(text) is not None:
            return True
    return _may_hold_secret_after_separator(text, json_text)


# --- the finder ---------------------------------------------------------------------------

_PROVIDERS = r"\b(?:" + "|".join(pattern for _, pattern in rules.PROVIDER_PATTERNS) + ")"
_PROSE = "|".join(sorted(rules.BEARER_PROSE_WORDS))
# Each rule: a pattern whose group "s" (or whole match) is the secret.
_SHAPES = re.compile(
    rf"(?s:{rules.PEM}(?:.*?-----END[A-Z0-9 ]*-----|.*))"
    rf"|\b(?:Bearer|BEARER)\s+(?!(?i:{_PROSE})\b)(?P<b>{rules.TOKEN68}+=*)"
    rf"|\bbearer\s+(?P<lb>{rules.TOKEN68}{{16,}}=*)"
    rf"|\A\s*bearer\s+(?!(?i:{_PROSE})\b)(?P<wb>{rules.TOKEN68}+=*)\s*\Z"  # a header value
    rf"|{rules.USERINFO}|{rules.JWT}|{_PROVIDERS}"
)
_BASIC = re.compile(r"\b(?:Basic|BASIC|basic)\s+([A-Za-z0-9+/]{4,}={0,2})(?![A-Za-z0-9+/=])")
# key=value, key: value, "key": "value", --key=value. A key starts at a word start, and a
# value is only matched after a secret key, from where the last one ended: linear time.
_KEY_SEP = re.compile(
    r"""(?<![\w.-])-{0,2}(?P<key>[^\W\d][\w.-]{0,127})["']?\s{0,8}(?:=|:(?!//))\s*"""
    r"""|(?<![\w.-])--?(?P<flag>[^\W\d][\w.-]{0,127})[ \t]+(?=[^\s-])"""
)
# curl -u user:password, --user=user:password
_USER_FLAG = re.compile(r"(?<![\w.-])(?:-u|--user)(?:[ \t]+|=)[^\s:'\"]+:([^\s'\"]+)")
_VALUE = re.compile(
    r""""[^"]*"|'[^']*'|(?:(?:Bearer|Basic|Token|Digest)\s+)?[^\s,;&"'<>(){}\[\]]+"""
)


def _is_basic_credential(encoded: str) -> bool:
    """``Basic`` followed by base64 of ``user:password`` (not the word "Basic auth")."""
    try:
        decoded = binascii.a2b_base64(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        return False
    return b":" in decoded


def _pair_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    done = 0
    for match in _KEY_SEP.finditer(text):
        key = match["key"] or match["flag"]
        if match.start() < done or not is_secret_key(key):
            continue
        value = _VALUE.match(text, match.end())
        if value is None:
            continue
        start, end = value.span()
        if text[start] in "'\"":
            start, end = start + 1, end - 1  # keep the quotes
        if start < end:
            spans.append((start, end))
        done = value.end()
    return spans


def _find(text: str) -> list[tuple[int, int]]:
    spans = _pair_spans(text) if (":" in text or "=" in text or "-" in text) else []
    if "-" in text:
        spans.extend(match.span(1) for match in _USER_FLAG.finditer(text))
    for match in _SHAPES.finditer(text):
        group = next((name for name in ("b", "lb", "wb") if match[name]), 0)
        spans.append(match.span(group))
    for match in _BASIC.finditer(text):
        if _is_basic_credential(match[1]):
            spans.append(match.span(1))
    return spans


def secret_spans(text: str) -> list[tuple[int, int]]:
    """Sorted, non-overlapping ``(start, end)`` spans of ``text`` that hold a secret.

    Example:
        >>> secret_spans("login password=hunter2 user=bob")
        [(15, 22)]
    """
    if not text_may_contain_secret(text):
        return []
    folded = rules.fold(text)
    if folded is text:
        spans = _find(text)
    else:
        folded, offsets = rules.fold_with_offsets(text)
        spans = [(offsets[start], offsets[end]) for start, end in _find(folded)]
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        elif start < end:
            merged.append((start, end))
    return merged


def looks_like_secret(value: str) -> bool:
    """Whether ``value`` holds a secret :func:`scrub_text` would redact.

    Example:
        >>> looks_like_secret("Bearer x"), looks_like_secret("the bearer of news")
        (True, False)
    """
    if value in CLEAN_STRINGS:
        return False
    secret = any(value[start:end] != REDACTED for start, end in secret_spans(value))
    if not secret and len(value) <= _CLEAN_LENGTH and len(CLEAN_STRINGS) < _CLEAN_LIMIT:
        CLEAN_STRINGS.add(value)  # only clean strings are kept: never a secret in memory
    return secret


#: Short strings already found clean (keys, roles, model names repeat across payloads).
#: Bounded, so random strings cannot grow it without limit; never holds a secret.
CLEAN_STRINGS: set[str] = set()
_CLEAN_LIMIT = 8192
_CLEAN_LENGTH = 128


def scrub_text(text: str) -> str:
    """Redact credential-looking substrings of free text (log lines, error messages).

    Replaces the value of ``key=value``, ``key: value``, ``"key": "value"``,
    ``--key value`` and ``--key=value`` pairs whose key is secret (:func:`is_secret_key`),
    bearer tokens (``Bearer [REDACTED]``), ``Basic`` credentials, JWTs, PEM private key
    blocks, URL credentials (``postgres://[REDACTED]@host``) and provider keys
    (``sb_secret_``, ``sk-``, ``sk_live_``, ``whsec_``, ``ghp_``, ``glpat-``, ``xoxb-``,
    ``AKIA``, ``AIza``, ``hf_``, ``npm_``, ``SG.``, Slack webhooks, ...). Look-alike
    letters do not hide a key. Idempotent.

    Example:
        >>> scrub_text("connect failed: password=hunter2 host=db")
        'connect failed: password=[REDACTED] host=db'
    """
    # A redaction can expose a neighbour (a JWT right after a PEM block's last "-" only
    # starts a word once the block is "[REDACTED]"): repeat until nothing changes.
    for _ in range(8):
        spans = secret_spans(text)
        if all(text[start:end] == REDACTED for start, end in spans):
            return text
        parts: list[str] = []
        done = 0
        for start, end in spans:
            parts += (text[done:start], REDACTED)
            done = end
        parts.append(text[done:])
        text = "".join(parts)
    return text
