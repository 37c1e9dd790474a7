"""The SQL key-name rule (generated) answers exactly as the Python one on a shared corpus.

``supabase_jobs.sj_is_secret_key`` is generated from ``supabase_jobs._secret_rules`` by
``scripts/gen_sql_secret_rules.py``. Every name of the corpus goes through both in ONE
query, and the answers must be identical for every name whose folded form holds no
non-ASCII letter or digit (SQL, lacking locale-independent Unicode classes, separates
words at those; see the generator's docstring).
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from supabase_jobs._secret_keys import is_secret_key
from supabase_jobs._secret_rules import fold

from ..unit.test_sanitize import PLAIN_KEYS_CORPUS, SECRET_KEYS
from .conftest import Database

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

CURATED = [
    "",
    "_",
    "123",
    "a1",
    "password",
    "Password",
    "PASSWORD",
    "newPassword",
    "password2",
    "passwordless",
    "passwords",
    "user_password_hash",
    "db-pass",
    "passphrase",
    "secret",
    "clientSecret",
    "client_secret",
    "secrets",
    "secretary",
    "top_secret_plan",
    "access_token",
    "accessToken",
    "AccessToken",
    "ACCESS_TOKEN",
    "X-Auth-Token",
    "x-csrf-token",
    "token",
    "tokens",
    "token_count",
    "tokenizer",
    "max_tokens",
    "maxTokens",
    "input_tokens",
    "refresh_tokens",
    "refreshTokens",
    "pushtokens",
    "api_key",
    "apiKey",
    "APIKey",
    "ApiKEY",
    "x-api-key",
    "apikey",
    "API_KEY_2",
    "primary_key",
    "primaryKey",
    "idempotency_key",
    "cache_key",
    "sort_key",
    "monkey",
    "hotkey",
    "signingkey",
    "signing_keys",
    "privateKeys",
    "private.key",
    "ssh key",
    "auth",
    "Auth",
    "AUTH",
    "author",
    "authors",
    "oauth",
    "oauth_provider",
    "oauth2_token",
    "auth_method",
    "auth_header",
    "authHeader",
    "basic_auth",
    "basicAuth",
    "BasicAuth",
    "HTTPAuth",
    "httpauth",
    "proxy-auth",
    "authorization",
    "Authorization",
    "authorisation",
    "bearer",
    "jwt",
    "JWTs",
    "id_token",
    "cookie",
    "Set-Cookie",
    "cookies",
    "credential",
    "credentials",
    "aws_credentials",
    "creds",
    "passcode",
    "pwd",
    "PWD",
    "session_key",
    "sessionId",
    "webhook_key",
    "license_key",
    "HMACKey",
    "hmac-key",
    "encryptionKey",
    "KEY",
    "key",
    "keys",
    "temperature",
    "prompt",
    "model",
    "tenant_id",
    "email",
    "a" * 200 + "_password",
    "a" * 200,
    # Non-ASCII names that NFKC or the generated fold table bring back to ASCII words.
    "ｐａｓｓｗｏｒｄ",
    "ＡＰＩ＿ＫＥＹ",
    "pa\u200bssword",
    "pass\u200dword",
    "\ufeffpassword",
    "api\u2060key",
    "api\u00adkey",
    "PAẞWORD",
    "paßword",
    "ſecret",
    "ﬁle_token",
    "İd_token",
    "x\u2011auth\u2011token",
    "Kelvin\u212akey",
    # The rule set's later steps: predicates, representation suffixes, benign heads, ...
    "has_password",
    "is_secret",
    "password_policy",
    "passwordPolicy",
    "jwt_expiry",
    "cookie_consent",
    "secret_santa",
    "api_key_value",
    "private_key_pem",
    "pw_hash",
    "new_password",
    "password_confirm",
    "next_page_token",
    "eos_token",
    "nextPageToken",
    "max_token",
    "db_pass",
    "pass",
    "boarding_pass",
    "seed_phrase",
    "passphrase",
    "stripe_key",
    "openai_api_key",
    "sessionid",
    "PHPSESSID",
    "otp",
    "auth_key",
    "раssword",
    "pаsswοrd",
    "ΑPI_KEY",
    "pa\u0301ssword",
    "ＡＰＩ＿ＫＥＹ＿ＶＡＬＵＥ",
    "паспорт",
    "密码_token",
    "api—key",
    "api·key",
]

ALPHABET = [
    *"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-. ",
    *("\u200b", "\u00ad", "ß", "ẞ", "İ", "ſ", "ﬁ", "Ｐ", "ａ", "\u212a"),
]
WORDS = [
    "pass",
    "word",
    "password",
    "secret",
    "token",
    "tokens",
    "key",
    "keys",
    "api",
    "auth",
    "max",
    "access",
    "private",
    "primary",
    "basic",
    "header",
    "cookie",
    "jwt",
    "o",
    "x",
]


def generated(count: int, seed: int) -> list[str]:
    """Random names: word salads with random case and separators, and random characters."""
    rng = random.Random(seed)
    names = []
    for _ in range(count):
        if rng.random() < 0.6:
            parts = [rng.choice(WORDS) for _ in range(rng.randint(1, 4))]
            parts = [
                p.upper() if rng.random() < 0.2 else p.title() if rng.random() < 0.3 else p
                for p in parts
            ]
            names.append(rng.choice(["", "_", "-", ".", " ", "\u200b"]).join(parts))
        else:
            names.append("".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 16))))
    return names


#: Non-ASCII characters SQL classifies as Python does (their case fold is ASCII).
SQL_LETTERS = {"ß", "ẞ"}


def kind(ch: str) -> str:
    """How Python's word splitter reads a character."""
    return "U" if ch.isupper() else "L" if ch.isalpha() else "D" if ch.isdigit() else ""


def ascii_after_normalising(name: str) -> bool:
    """Whether SQL reads every character of ``name`` as Python does (see the docstring)."""
    return all(ch.isascii() or ch in SQL_LETTERS for ch in fold(name))


def residual_kinds(name: str) -> set[str]:
    """Python's readings of the characters SQL cannot classify."""
    return {kind(ch) for ch in fold(name) if not ch.isascii() and ch not in SQL_LETTERS}


def sql_answers(db: Database, names: list[str]) -> dict[str, bool]:
    rows = db.admin.execute(
        "select n.name, supabase_jobs.sj_is_secret_key(n.name) as secret"
        " from unnest(%s::text[]) as n(name)",
        [names],
    ).fetchall()
    return {row["name"]: row["secret"] for row in rows}


def test_sql_rule_equals_python_rule_on_the_shared_corpus(db: Database) -> None:
    corpus = sorted(set(CURATED + SECRET_KEYS + PLAIN_KEYS_CORPUS + generated(3000, seed=12)))
    answers = sql_answers(db, corpus)
    exact = [n for n in corpus if ascii_after_normalising(n)]
    mismatched = [
        (n, answers[n], is_secret_key(n)) for n in exact if answers[n] != is_secret_key(n)
    ]
    assert mismatched == []
    # Enough of both answers that the comparison means something.
    assert sum(answers[n] for n in exact) >= 300
    assert sum(not answers[n] for n in exact) >= 300
    # Everything the SDK's own tests list is judged identically.
    assert all(answers[n] for n in SECRET_KEYS) and not any(answers[n] for n in PLAIN_KEYS_CORPUS)


#: Characters the fold keeps, by how Python reads them.
OTHER_CHARS = {
    "": ["—", "·", "→", "«", "€", "\u0301\u0600"],  # separators (a mark the fold keeps, too)
    "L": ["ж", "中", "ŋ", "ð", "ǆ"],
    "U": ["Ж", "Ŋ", "Ð", "Ǆ"],
    "D": ["٣", "߂", "໒"],
}


@pytest.mark.parametrize("reading", sorted(OTHER_CHARS))
def test_sql_rule_is_never_laxer_on_other_unicode(db: Database, reading: str) -> None:
    rng = random.Random(5)
    chars = OTHER_CHARS[reading]
    names = set()
    for _ in range(3000):
        parts = [rng.choice(WORDS + chars) for _ in range(rng.randint(2, 5))]
        name = "".join(p.upper() if rng.random() < 0.2 else p for p in parts)
        name = rng.choice(["", "_", "-"]).join([name, rng.choice(WORDS)])
        if residual_kinds(name) == {reading}:
            names.add(name)
    answers = sql_answers(db, sorted(names))
    laxer = [n for n in names if is_secret_key(n) and not answers[n]]
    assert laxer == []
    assert len(names) >= 1000 and sum(is_secret_key(n) for n in names) >= 300


def test_generated_sql_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_sql_secret_rules.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
