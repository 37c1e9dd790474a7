"""Secret key rules: whether the value stored under a dict key (or header name) is a secret.

Keys are judged word by word (:func:`is_secret_key`): ``max_tokens``, ``token_count``,
``tokenizer``, ``primary_key``, ``idempotency_key``, ``author`` and ``passwordless``
survive; ``password``, ``newPassword``, ``client_secret``, ``access_token``,
``X-Auth-Token``, ``apiKey``, ``x-api-key``, ``private_key``, ``Authorization``, ``auth``,
``cookie`` and ``credentials`` do not (design.md section 5). Pure and dependency-free:
:mod:`._sanitize` (scrubbing values, free text) and :mod:`._payload` (the dispatch walk,
which tests :data:`PLAIN_KEYS` first) build on it.
"""

from __future__ import annotations

import functools
import unicodedata

__all__ = ["PLAIN_KEYS", "is_secret_key"]

_ALWAYS_SECRET_WORDS = frozenset({
    "password", "passwords", "passwd", "pwd", "passphrase", "passcode",
    "secret", "secrets", "credential", "credentials", "creds",
    "authorization", "authorisation", "bearer", "jwt", "jwts", "cookie", "cookies",
    "apikey", "apikeys", "privatekey", "privatekeys", "secretkey", "accesskey",
})  # fmt: skip
#: One word ending like this is secret too: ``newpassword``, ``clientsecret``.
_SECRET_SUFFIXES = (
    "password", "passwd", "passphrase", "secret", "secrets", "credential", "credentials",
)  # fmt: skip
#: ``<qualifier>_key``: ``api_key``, ``private_key``; not ``primary_key``, ``cache_key``.
_KEY_QUALIFIERS = frozenset({
    "api", "private", "secret", "access", "signing", "encryption", "decryption", "master",
    "client", "auth", "service", "role", "session", "ssh", "pgp", "gpg", "hmac", "webhook",
    "consumer", "license", "jwt", "bearer",
})  # fmt: skip
#: ``<qualifier>_tokens`` (plural) holds credentials; ``max_tokens`` is a count.
_TOKEN_QUALIFIERS = frozenset({
    "access", "refresh", "auth", "api", "bearer", "id", "session", "device", "push",
    "csrf", "xsrf", "oauth", "personal", "secret", "service", "client", "jwt",
})  # fmt: skip
#: ``auth_<head>`` holding the credential itself (``auth_method`` does not).
_AUTH_HEADS = frozenset({"header", "headers", "value", "string", "code", "pass"})
#: ``<prefix>auth`` as one word: ``basicauth``; not ``oauth``.
_AUTH_PREFIXES = frozenset({"basic", "http", "proxy", "digest", "bearer", "api"})
#: Keys already judged not secret. The payload walk tests this set before calling
#: :func:`is_secret_key`: a set lookup costs a fifth of an lru_cache call and keys
#: repeat. Bounded, so random keys cannot grow it without limit.
PLAIN_KEYS: set[str] = set()
_PLAIN_KEYS_LIMIT = 4096
_CACHED_KEY_LENGTH = 128


def _key_words(name: str) -> list[str]:
    """Split a key into case-folded words at camelCase, acronyms, digits, separators."""
    if not name.isascii():
        name = unicodedata.normalize("NFKC", name)
        # Zero-width and other format characters (Cf) would otherwise hide a word.
        name = "".join(ch for ch in name if unicodedata.category(ch) != "Cf")
    words: list[str] = []
    current: list[str] = []
    previous = ""
    for ch in name:
        kind = "U" if ch.isupper() else "L" if ch.isalpha() else "D" if ch.isdigit() else ""
        if not kind or (
            current and ((kind == "D") != (previous == "D") or (kind, previous) == ("U", "L"))
        ):
            if current:  # a separator (- . _ space ...) or a new word starts here
                words.append("".join(current))
                current = []
        elif kind == "L" and previous == "U" and len(current) > 1:
            last = current.pop()  # "APIKey": the last capital starts the next word
            words.append("".join(current))
            current = [last]
        if kind:
            current.append(ch)
        previous = kind
    if current:
        words.append("".join(current))
    # Numbers carry no meaning here: "password2", "oauth2_token".
    return [word.casefold() for word in words if not word.isdigit()]


def _classify(words: list[str]) -> bool:
    if any(word in _ALWAYS_SECRET_WORDS or word.endswith(_SECRET_SUFFIXES) for word in words):
        return True
    last = words[-1]
    before = words[-2] if len(words) > 1 else ""
    if last.endswith("token"):  # token, access_token, accesstoken; not tokenizer
        return True
    if last.endswith("tokens"):
        return before in _TOKEN_QUALIFIERS or last[:-6] in _TOKEN_QUALIFIERS
    if last in ("key", "keys"):
        return before in _KEY_QUALIFIERS
    if last.endswith(("key", "keys")):  # signingkey; not monkey, hotkey
        return last[: -3 if last.endswith("key") else -4] in _KEY_QUALIFIERS
    if last == "auth" or (last.endswith("auth") and last[:-4] in _AUTH_PREFIXES):
        return True
    return before == "auth" and last in _AUTH_HEADS


def is_secret_key(name: str) -> bool:
    """Whether the value stored under the key ``name`` is a secret.

    The name is normalised into words (NFKC, zero-width characters dropped, split at
    camelCase, acronyms, digits and any separator, case-folded). It is secret when a word
    is always secret (``password``, ``secret``, ``credentials``, ``authorization``,
    ``bearer``, ``jwt``, ``cookie``, ``apikey``, ``privatekey``, ...) or ends in
    ``password``/``secret``; when its last word is ``token`` (not ``max_tokens``,
    ``token_count``, ``tokenizer``); when it is ``<qualifier>_key`` for a secret-ish
    qualifier (``api_key``, ``private_key``, ``secret_key``, ``access_key``; not
    ``primary_key``, ``idempotency_key``, ``cache_key``); or when it is ``auth`` with a
    credential head (``auth``, ``basic_auth``, ``auth_header``; not ``author``,
    ``oauth_provider``, ``auth_method``).

    Example:
        >>> is_secret_key("X-Auth-Token"), is_secret_key("max_tokens")
        (True, False)
    """
    if len(name) > _CACHED_KEY_LENGTH:  # do not pin long strings in the caches
        words = _key_words(name)
        return bool(words) and _classify(words)
    return _is_secret_key_cached(name)


@functools.lru_cache(maxsize=4096)
def _is_secret_key_cached(name: str) -> bool:
    words = _key_words(name)
    secret = bool(words) and _classify(words)
    if not secret and len(PLAIN_KEYS) < _PLAIN_KEYS_LIMIT:
        PLAIN_KEYS.add(name)
    return secret
