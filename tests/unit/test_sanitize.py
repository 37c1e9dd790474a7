"""Secret scrubbing: the key corpus, value patterns, lists and pairs, modes, no mutation."""

from __future__ import annotations

import copy
import json

import pytest

from supabase_jobs._errors import SecretInPayloadError, ValidationError
from supabase_jobs._sanitize import (
    REDACTED,
    looks_like_secret,
    scrub,
    scrub_text,
    text_may_contain_secret,
)
from supabase_jobs._secret_keys import PLAIN_KEYS, is_secret_key

# Every example of issue 2 item 7 and design.md section 5 is in one of these two lists.
SECRET_KEYS = [
    "password", "newPassword", "client_secret", "access_token", "X-Auth-Token", "apiKey",
    "x-api-key", "private_key", "Authorization", "auth", "cookie", "credentials",
    "passwd", "pwd", "passphrase", "secret", "credential", "authorization", "bearer",
    "jwt", "apikey", "privatekey", "api_key", "secret_key", "access_key", "auth_token",
    "basic_auth", "PASSWORD", "Password", "new_password", "old_password", "db_password",
    "dbPassword", "password_confirmation", "password_hash", "userpassword", "clientSecret",
    "CLIENT_SECRET", "webhook_secret", "jwt_secret", "SECRET_KEY", "secretKey",
    "accessToken", "refresh_token", "id_token", "authToken", "x-auth-token",
    "X-CSRF-Token", "session_token", "token", "TOKEN", "bearer_token", "API_KEY",
    "APIKey", "X-API-KEY", "openai_api_key", "privateKey", "PRIVATE_KEY",
    "aws_secret_access_key", "signing_key", "encryption_key", "master_key",
    "service_role_key", "serviceRoleKey", "HTTP_AUTHORIZATION", "Proxy-Authorization",
    "Auth", "basicAuth", "basicauth", "http_auth", "auth_header", "Cookie", "cookies",
    "set-cookie", "Set-Cookie", "session_cookie", "aws_credentials", "JWT",
    "access_tokens", "api_keys", "ssh_key", "hmac_key", "github_token", "GITHUB_TOKEN",
    "slack_bot_token", "npmToken", "client.secret", "api key", "API-Key", "password2",
    "oauth2_token", "accesstoken", "clientsecret", "signingkey",
    "pass\u200bword",  # zero-width space inside
    "api\u200d_key",  # zero-width joiner
    "\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44",  # fullwidth "password" (NFKC)
    "\uff21\uff30\uff29\uff3f\uff2b\uff25\uff39",  # fullwidth "API_KEY"
]  # fmt: skip
PLAIN_KEYS_CORPUS = [
    "max_tokens", "prompt_tokens", "token_count", "tokenizer", "primary_key",
    "idempotency_key", "author", "passwordless", "cache_key", "oauth_provider",
    "auth_method", "completion_tokens", "total_tokens", "maxTokens", "MAX_TOKENS",
    "max_output_tokens", "input_tokens", "tokens", "token_type", "tokenType",
    "token_limit", "tokens_used", "tokenizer_name", "public_key", "keyword", "key",
    "keys", "sort_key", "partition_key", "foreign_key", "object_key", "s3_key", "hotkey",
    "monkey", "authority", "author_name", "authored_by", "authentication_method",
    "secretary", "passage", "passenger", "bypass", "credit", "cookbook", "api_version",
    "api_url", "base_url", "model", "prompt", "temperature", "top_p", "user_id",
    "session_id", "request_id", "idempotencyKey", "primaryKey", "cacheKey", "key_id",
    "access_key_id", "private_key_id", "jwks_url", "is_authenticated", "auth_provider",
    "passwordless_login", "", "__", "123", "message", "content", "role",
]  # fmt: skip


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_secret_keys_are_scrubbed(key: str) -> None:
    assert is_secret_key(key)
    result = scrub({key: "hunter2", "keep": 1})
    assert result.value == {"keep": 1}
    assert len(result.paths) == 1


@pytest.mark.parametrize("key", PLAIN_KEYS_CORPUS)
def test_plain_keys_survive(key: str) -> None:
    assert not is_secret_key(key)
    payload = {key: "some value", "n": 1}
    assert scrub(payload) == (payload, ())


def test_corpus_is_large_and_disjoint() -> None:
    assert len(SECRET_KEYS) + len(PLAIN_KEYS_CORPUS) >= 80
    assert not set(SECRET_KEYS) & set(PLAIN_KEYS_CORPUS)


def test_plain_key_cache_never_holds_a_secret_key() -> None:
    for key in SECRET_KEYS + PLAIN_KEYS_CORPUS:
        is_secret_key(key)
    assert not PLAIN_KEYS & set(SECRET_KEYS)
    assert "max_tokens" in PLAIN_KEYS


JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----"
SECRET_VALUES = [
    "Bearer x",
    "bearer abc.def",
    "  BEARER abc123==  ",
    f"Bearer {JWT}",
    JWT,
    f"token is {JWT} ok",
    PEM,
    "-----BEGIN PRIVATE KEY-----",
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn",
    "-----BEGIN EC PRIVATE KEY-----",
    "-----BEGIN ENCRYPTED PRIVATE KEY-----",
    "-----BEGIN PGP PRIVATE KEY BLOCK-----",
    "postgres://user:pass@db.example.com:5432/app",
    "https://u:p@example.com/x",
    "redis://:s3cret@localhost:6379/0",
    "see mysql://root:toor@10.0.0.1/db for details",
    "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz",
    "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789",
    "sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
    "sk_live_51Habcdefghijklmnop",
    "sk_test_51Habcdefghijklmnop",
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "gho_abcdefghijklmnopqrstuvwxyz0123456789",
    "github_pat_11ABCDEFG0abcdefghijklmnopqrstuv",
    "xoxb-123456789012-1234567890123-abcdefghij",
    "xoxp-1234-5678-abcd",
    "AKIAIOSFODNN7EXAMPLE",
    "aws key ASIAY34FZKBOKMUTVV7A here",
    "Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345",
]
PLAIN_VALUES = [
    "Bearer",
    "The bearer of this letter is a friend.",
    "bearer bonds and other instruments",
    "https://example.com/path?q=1",
    "https://user@example.com/x",
    "mailto:someone@example.com",
    "someone@example.com",
    "-----BEGIN PUBLIC KEY-----",
    "-----BEGIN CERTIFICATE-----",
    "sk-learn",
    "task-1234567890abcdefghijklmnop",
    "risk-free",
    "ghp_short",
    "xoxo",
    "AKIA",
    "eyJ",
    "sb_secret_",
    "gpt-4o-mini",
    "123e4567-e89b-12d3-a456-426614174000",
    "Summarise this in three bullet points.",
    REDACTED,
    "",
]


@pytest.mark.parametrize("value", SECRET_VALUES)
def test_secret_values_are_scrubbed_whatever_the_key(value: str) -> None:
    assert looks_like_secret(value)
    assert text_may_contain_secret(json.dumps({"note": value}, ensure_ascii=False))
    assert scrub({"note": value, "n": 1}) == ({"n": 1}, ("payload.note",))
    assert scrub({"note": value}, mode="redact").value == {"note": REDACTED}
    assert scrub([value, "ok"]).value == [REDACTED, "ok"]


@pytest.mark.parametrize("value", PLAIN_VALUES)
def test_plain_values_survive(value: str) -> None:
    assert not looks_like_secret(value)
    assert scrub({"note": value}) == ({"note": value}, ())


def test_hint_is_a_superset_on_escaped_json_text() -> None:
    # JSON escaping puts "\n" before the key; the precise pattern's \b would not see it.
    value = "my key:\nsk-proj-abcdefghijklmnopqrstuvwxyz0123"
    assert looks_like_secret(value)
    assert text_may_contain_secret(json.dumps({"a": value}))


def test_nested_dicts_and_lists() -> None:
    payload = {
        "prompt": "hi",
        "config": {"db": {"password": "p", "host": "h"}, "max_tokens": 5},
        "items": [{"name": "a", "api_key": "k"}, ["Bearer x", "plain"], [[{"token": "t"}]]],
    }
    result = scrub(payload)
    assert result.value == {
        "prompt": "hi",
        "config": {"db": {"host": "h"}, "max_tokens": 5},
        "items": [{"name": "a"}, [REDACTED, "plain"], [[{}]]],
    }
    assert sorted(result.paths) == [
        "payload.config.db.password",
        "payload.items[0].api_key",
        "payload.items[1][0]",
        "payload.items[2][0][0].token",
    ]


@pytest.mark.parametrize("mode", ["remove", "redact"])
def test_authorization_pair_in_a_list(mode: str) -> None:
    result = scrub([["Authorization", "Bearer x"]], mode=mode)  # type: ignore[arg-type]
    assert result == ([["Authorization", REDACTED]], ("payload[0][1]",))
    headers = {"headers": [["Authorization", "opaque"], ["Accept", "application/json"]]}
    assert scrub(headers, mode=mode).value == {  # type: ignore[arg-type]
        "headers": [["Authorization", REDACTED], ["Accept", "application/json"]]
    }


def test_two_words_under_a_key_are_not_a_pair() -> None:
    payload = {"tags": ["cookie", "recipe"], "stop": ["token", "\n"]}
    assert scrub(payload) == (payload, ())


def test_redact_mode_keeps_keys() -> None:
    payload = {"password": "p", "nested": {"apiKey": {"deep": 1}}, "ok": True}
    result = scrub(payload, mode="redact")
    assert result.value == {"password": REDACTED, "nested": {"apiKey": REDACTED}, "ok": True}
    assert set(result.paths) == {"payload.password", "payload.nested.apiKey"}


def test_raise_mode_lists_every_path_and_never_a_value() -> None:
    payload = {"password": "hunter2-secret", "x": ["sk_live_51Habcdefghijklmnop"], "ok": 1}
    with pytest.raises(SecretInPayloadError) as info:
        scrub(payload, mode="raise")
    assert set(info.value.paths) == {"payload.password", "payload.x[0]"}
    assert info.value.path in info.value.paths
    text = str(info.value) + repr(info.value) + repr(info.value.args)
    assert "hunter2" not in text
    assert "51Habcdefghijklmnop" not in text


def test_raise_mode_passes_a_clean_payload() -> None:
    assert scrub({"max_tokens": 3}, mode="raise") == ({"max_tokens": 3}, ())


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValidationError, match="scrub_mode"):
        scrub({}, mode="drop")  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["remove", "redact"])
def test_input_is_never_mutated(mode: str) -> None:
    payload = {
        "password": "p",
        "list": [["Authorization", "Bearer x"], {"token": "t", "keep": [1, 2]}],
        "note": JWT,
        "tuple": ("a", "Bearer y"),
    }
    before = copy.deepcopy(payload)
    result = scrub(payload, mode=mode)  # type: ignore[arg-type]
    assert payload == before
    assert result.value is not payload
    assert result.value["list"] is not payload["list"]
    assert result.value["tuple"] == ["a", REDACTED]  # tuples come back as lists


def test_a_credential_shaped_key_is_dropped_and_not_rendered() -> None:
    token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
    result = scrub({token: {"repo": "x"}, "ok": 1}, mode="redact")
    assert result.value == {"ok": 1}
    assert result.paths == ("payload[<key 1>]",)  # issue 8: a placeholder, not the key


def test_paths_quote_odd_keys() -> None:
    result = scrub({"a b": {"x.y": [{"secret": 1}]}, "Ünïcode": {"token": 2}})
    assert set(result.paths) == {
        'payload["a b"]["x.y"][0].secret',
        "payload.Ünïcode.token",
    }


def test_scrub_is_idempotent_and_second_pass_reports_nothing() -> None:
    payload = {"password": "p", "h": [["Cookie", "c=1"]], "u": "https://a:b@c.d/", "k": "x"}
    for mode in ("remove", "redact"):
        once = scrub(payload, mode=mode)
        assert scrub(once.value, mode=mode) == (once.value, ())


def test_scalars_and_foreign_objects() -> None:
    marker = object()
    assert scrub("Bearer x") == (REDACTED, ("payload",))
    assert scrub(42) == (42, ())
    assert scrub({"obj": marker}).value["obj"] is marker
    assert scrub({1: "x", None: "Bearer x"}, path="r").value == {1: "x"}


def test_circular_and_very_deep_input() -> None:
    loop: dict[str, object] = {"password": "p"}
    loop["self"] = loop
    result = scrub(loop)
    assert result.value["self"] is result.value
    assert "password" not in result.value
    deep: list[object] = ["Bearer x"]
    for _ in range(100_000):
        deep = [deep]
    result = scrub(deep)  # iterative: no RecursionError
    assert len(result.paths) == 1


TEXTS = [
    ("connect failed: password=hunter2 host=db", "connect failed: password=[REDACTED] host=db"),
    ('{"api_key": "abc def", "max_tokens": 5}', '{"api_key": "[REDACTED]", "max_tokens": 5}'),
    ("Authorization: Bearer abc.def", "Authorization: [REDACTED]"),
    ("GET /x?token=abc&page=2", "GET /x?token=[REDACTED]&page=2"),
    ("sent Bearer xyz to api", "sent Bearer [REDACTED] to api"),
    ("dsn postgres://app:s3cr3t@db:5432/x", "dsn postgres://[REDACTED]@db:5432/x"),
    (f"jwt={JWT};", "jwt=[REDACTED];"),
    (f"got {JWT} back", "got [REDACTED] back"),
    (f"key:\n{PEM}\nafter", "key:\n[REDACTED]\nafter"),
    ("use sk-proj-abcdefghijklmnopqrstuvwxyz0123 now", "use [REDACTED] now"),
    ("AKIAIOSFODNN7EXAMPLE leaked", "[REDACTED] leaked"),
    ("the bearer of bad news", "the bearer of bad news"),
    ("max_tokens=5 author: me", "max_tokens=5 author: me"),
    ("plain message", "plain message"),
]


@pytest.mark.parametrize(("text", "expected"), TEXTS)
def test_scrub_text(text: str, expected: str) -> None:
    assert scrub_text(text) == expected
    assert scrub_text(expected) == expected


def test_adversarial_text_is_handled_in_linear_time() -> None:
    # Each of these took minutes with backtracking patterns; now they are instant.
    n = 50_000
    assert scrub_text("a:" * n) == "a:" * n
    assert scrub_text("password=" * n) == f"password={REDACTED}"
    assert not looks_like_secret("eyJ" * n)
    assert scrub({"k": "eyJ" * n}).paths == ()
    assert scrub_text("-----BEGIN " + "A" * n) == "-----BEGIN " + "A" * n


def test_long_keys_are_classified_but_not_cached() -> None:
    long_plain = "k" * 500
    assert not is_secret_key(long_plain)
    assert is_secret_key("x" * 500 + "_password")
    assert long_plain not in PLAIN_KEYS
