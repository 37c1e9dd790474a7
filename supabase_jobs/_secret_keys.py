"""Secret key rules: whether the value stored under a dict key (or header name) is a secret.

Keys are judged word by word (:func:`is_secret_key`) with the data of
:mod:`._secret_rules` (its docstring lists the steps). ``max_tokens``, ``token_count``,
``primary_key``, ``idempotency_key``, ``password_policy``, ``has_password``,
``next_page_token`` and ``jwt_expiry`` survive; ``password``, ``db_pass``, ``pw``,
``client_secret``, ``access_token``, ``X-Auth-Token``, ``apiKey``, ``api_key_value``,
``private_key_pem``, ``stripe_key``, ``Authorization``, ``cookie``, ``sessionid`` and
``раssword`` (Cyrillic ``р``/``а``) do not (design.md section 5). Pure and
dependency-free: :mod:`._sanitize` and :mod:`._payload` (the dispatch walk, which tests
:data:`PLAIN_KEYS` first) build on it.
"""

from __future__ import annotations

import functools
import re

from . import _secret_rules as rules

__all__ = ["PLAIN_KEYS", "classify_words", "has_key_stem", "is_secret_key"]

#: Keys already judged not secret. The payload walk tests this set before calling
#: :func:`is_secret_key`: a set lookup costs a fifth of an lru_cache call and keys
#: repeat. Bounded, so random keys cannot grow it without limit.
PLAIN_KEYS: set[str] = set()
_PLAIN_KEYS_LIMIT = 4096
_CACHED_KEY_LENGTH = 128
_STEM = re.compile("|".join(rules.KEY_STEMS), re.IGNORECASE)


def has_key_stem(text: str) -> bool:
    """Whether folded ``text`` contains a :data:`._secret_rules.KEY_STEMS` entry."""
    return _STEM.search(text) is not None


def _always_secret(word: str) -> bool:
    return word in rules.ALWAYS_SECRET_WORDS or word.endswith(rules.SECRET_SUFFIXES)


def _secret_head(head: str, before: str) -> bool:
    """The head rules (step 6 of :mod:`._secret_rules`)."""
    if head.endswith("token"):  # token, access_token, accesstoken; not tokenizer
        return before not in rules.BENIGN_TOKEN_QUALIFIERS and (
            head[:-5] not in rules.BENIGN_TOKEN_QUALIFIERS
        )
    if head.endswith("tokens"):
        return before in rules.TOKEN_QUALIFIERS or head[:-6] in rules.TOKEN_QUALIFIERS
    if head in ("key", "keys"):
        return before in rules.KEY_QUALIFIERS
    if head.endswith(("key", "keys")):  # signingkey; not monkey, hotkey
        return head[: -3 if head.endswith("key") else -4] in rules.KEY_QUALIFIERS
    if head in ("phrase", "seed"):
        return before in rules.PHRASE_QUALIFIERS
    if head in ("code", "codes"):
        return before in rules.CODE_QUALIFIERS
    if head in rules.SHORT_PASSWORD_WORDS:
        return before not in rules.PASS_BENIGN_QUALIFIERS
    if head.endswith(("pass", "pw", "pwd")):  # dbpass, rootpw; not bypass, compass
        return head[: -2 if head.endswith("pw") else -3 if head.endswith("pwd") else -4] in (
            rules.PASS_PREFIXES
        )
    if head in ("word", "words"):
        return before == "pass"  # pass_word
    if head == "auth" or (head.endswith("auth") and head[:-4] in rules.AUTH_PREFIXES):
        return True
    return before == "auth" and head in rules.AUTH_HEADS


def classify_words(words: list[str]) -> bool:
    """Whether a key split into words (:func:`._secret_rules.key_words`) is secret."""
    if not words or (len(words) > 1 and words[0] in rules.PREDICATE_PREFIXES):
        return False
    end = len(words)
    while end > 1 and words[end - 1] in rules.VALUE_FORM_WORDS:
        end -= 1  # api_key_value, private_key_pem: the head is what comes before
    head = words[end - 1]
    if _secret_head(head, words[end - 2] if end > 1 else ""):
        return True
    last = next((i for i in range(end - 1, -1, -1) if _always_secret(words[i])), -1)
    if last < 0:
        return False
    # password_policy, jwt_expiry, cookie_consent_given: about the secret, unless the
    # head is a credential itself (password_reset_code).
    about = any(word in rules.BENIGN_HEADS for word in words[last + 1 : end])
    return not about or head in rules.CREDENTIAL_HEADS


def _classify(name: str) -> bool:
    folded = rules.fold(name)
    return has_key_stem(folded) and classify_words(rules.key_words(folded))


def is_secret_key(name: str) -> bool:
    """Whether the value stored under the key ``name`` is a secret.

    The name is folded and split into words (:func:`._secret_rules.key_words`), then
    judged by the rules listed in :mod:`._secret_rules`: always-secret words
    (``password``, ``secret``, ``credentials``, ``authorization``, ``bearer``, ``jwt``,
    ``cookie``, ``apikey``, ``sessionid``, ...) unless the head is about the secret
    (``password_policy``); ``token`` heads (not ``max_tokens``, ``next_page_token``);
    qualified ``key`` heads (``api_key``, ``stripe_key``; not ``primary_key``,
    ``idempotency_key``); short password heads (``pass``, ``pw``, ``db_pass``);
    ``auth`` heads (``auth``, ``basic_auth``; not ``author``, ``auth_method``).
    Representation suffixes keep a key secret (``api_key_value``); predicates make it
    a flag (``has_password``).

    Example:
        >>> is_secret_key("X-Auth-Token"), is_secret_key("max_tokens")
        (True, False)
    """
    if len(name) > _CACHED_KEY_LENGTH:  # do not pin long strings in the caches
        return _classify(name)
    return _is_secret_key_cached(name)


@functools.lru_cache(maxsize=4096)
def _is_secret_key_cached(name: str) -> bool:
    secret = _classify(name)
    if not secret and len(PLAIN_KEYS) < _PLAIN_KEYS_LIMIT:
        PLAIN_KEYS.add(name)
    return secret
