"""The SQL key-name rule (generated) answers exactly as the Python one on a shared corpus.

``supabase_jobs.sj_is_secret_key`` is generated from ``supabase_jobs._secret_keys`` by
``scripts/gen_sql_secret_rules.py``. Every name of the corpus goes through both in ONE
query. Names that, after NFKC and dropping format characters, still hold non-ASCII
characters other than the few the generator lists are judged more strictly in SQL (such a
character separates words there): for them SQL must say "secret" whenever Python does.
"""

from __future__ import annotations

import random
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from supabase_jobs._secret_keys import is_secret_key

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


def ascii_after_normalising(name: str) -> bool:
    """Whether SQL's character classes equal Python's for ``name`` (see the docstring)."""
    if name.isascii():
        return True
    text = unicodedata.normalize("NFKC", name)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    folds = {"ß", "ẞ", "İ", "ǰ", "ẖ", "ẗ", "ẘ", "ẙ"}
    return all(ch.isascii() or ch in folds for ch in text)


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


def test_sql_rule_is_never_laxer_on_other_unicode(db: Database) -> None:
    rng = random.Random(5)
    extra = ["é", "ü", "—", "·", "Ω", "ж", "Ж", "٣", "中", "ǅ", "ⅷ", "Ä"]
    names = []
    for _ in range(5000):
        parts = [rng.choice(WORDS + extra) for _ in range(rng.randint(1, 5))]
        names.append("".join(p.upper() if rng.random() < 0.2 else p for p in parts))
    names = sorted(set(names) - {n for n in names if ascii_after_normalising(n)})
    answers = sql_answers(db, names)
    laxer = [n for n in names if is_secret_key(n) and not answers[n]]
    assert laxer == []
    assert sum(is_secret_key(n) for n in names) >= 400


def test_generated_sql_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_sql_secret_rules.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
