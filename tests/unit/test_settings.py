"""JobsSettings: environment, .env, errors naming the variable, and the key kept secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from supabase_jobs._errors import ConfigurationError, NotServiceRoleError
from supabase_jobs._settings import JobsConfig, JobsSettings, check_service_role, key_hint

from ._helpers import ANON_KEY, SERVICE_KEY, mint_jwt

URL = "https://abcd.supabase.co"


def test_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPABASE_URL", URL + "/")
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", SERVICE_KEY)
    monkeypatch.setenv("SUPABASE_JOBS_SCHEMA", "jobs_schema")
    monkeypatch.setenv("SUPABASE_JOBS_TABLE", "queue_jobs")
    monkeypatch.setenv("SUPABASE_JOBS_DEFAULT_QUEUE", "mail")
    monkeypatch.setenv("SUPABASE_JOBS_MAX_PAYLOAD_BYTES", "1024")
    monkeypatch.setenv("SUPABASE_JOBS_MAX_PAYLOAD_DEPTH", "8")
    monkeypatch.setenv("SUPABASE_JOBS_SCRUB_MODE", "redact")
    monkeypatch.setenv("SUPABASE_JOBS_HTTP_TIMEOUT", "2.5")

    settings = JobsSettings.load()

    assert settings.url == URL
    assert settings.service_role_key.get_secret_value() == SERVICE_KEY
    assert (settings.db_schema, settings.table, settings.default_queue) == (
        "jobs_schema",
        "queue_jobs",
        "mail",
    )
    assert (settings.max_payload_bytes, settings.max_payload_depth) == (1024, 8)
    assert settings.scrub_mode == "redact"
    assert settings.http_timeout == 2.5


def test_secret_key_alias_and_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        f"SUPABASE_URL={URL}\nSUPABASE_SECRET_KEY=sb_secret_abcdef123456\nOTHER_APP_VAR=1\n",
        encoding="utf-8",
    )
    settings = JobsSettings.load()  # the suite's cwd is tmp_path
    assert settings.url == URL
    assert settings.service_role_key.get_secret_value() == "sb_secret_abcdef123456"
    assert settings.table == "jobs"


def test_environment_beats_dotenv_and_kwargs_beat_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / "custom.env"
    env_file.write_text(
        f"SUPABASE_URL={URL}\nSUPABASE_SERVICE_ROLE_KEY={SERVICE_KEY}\nSUPABASE_JOBS_TABLE=a\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SUPABASE_JOBS_TABLE", "b")
    assert JobsSettings.load(env_file=env_file).table == "b"
    assert JobsSettings.load(env_file=env_file, table="c").table == "c"


def test_missing_variables_are_named() -> None:
    with pytest.raises(ConfigurationError) as info:
        JobsSettings.load()
    message = str(info.value)
    assert "SUPABASE_URL is not set" in message
    assert "SUPABASE_SERVICE_ROLE_KEY (or SUPABASE_SECRET_KEY) is not set" in message
    assert info.value.variables == ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SUPABASE_URL", "ftp://example.com"),
        ("SUPABASE_URL", "https://user:pw@example.com"),
        ("SUPABASE_JOBS_MAX_PAYLOAD_BYTES", "lots"),
        ("SUPABASE_JOBS_MAX_PAYLOAD_BYTES", str(10**9)),
        ("SUPABASE_JOBS_MAX_PAYLOAD_DEPTH", "0"),
        ("SUPABASE_JOBS_SCRUB_MODE", "shred"),
        ("SUPABASE_JOBS_HTTP_TIMEOUT", "-1"),
        ("SUPABASE_JOBS_TABLE", "jobs; drop table x"),
        ("SUPABASE_JOBS_SCHEMA", "a.b"),
        ("SUPABASE_JOBS_DEFAULT_QUEUE", "Bad Queue"),
        ("SUPABASE_JOBS_DEFAULT_PRIORITY", "1000"),
    ],
)
def test_malformed_variable_is_named_without_its_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv("SUPABASE_URL", URL)
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", SERVICE_KEY)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as info:
        JobsSettings.load()
    assert info.value.variables == (variable,)
    assert variable in str(info.value)
    if len(value) > 3:
        assert value not in str(info.value)


@pytest.mark.parametrize(
    ("key", "why"),
    [
        (ANON_KEY, "role 'anon'"),
        ("sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH", "publishable"),
        ("not-a-key-at-all-1234567890", "neither a JWT"),
    ],
)
def test_a_non_service_key_is_refused_showing_six_chars_at_most(
    monkeypatch: pytest.MonkeyPatch, key: str, why: str
) -> None:
    monkeypatch.setenv("SUPABASE_URL", URL)
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", key)
    with pytest.raises(ConfigurationError) as info:
        JobsSettings.load()
    assert "SUPABASE_SERVICE_ROLE_KEY" in str(info.value)
    assert why in str(info.value)
    assert key[6:] not in str(info.value)
    assert key[6:] not in repr(info.value)


def test_repr_and_str_hide_the_key() -> None:
    settings = JobsSettings.load(env_file=None, url=URL, service_role_key=SERVICE_KEY)
    for text in (repr(settings), str(settings)):
        assert SERVICE_KEY[6:] not in text
        assert key_hint(SERVICE_KEY) in text
    assert key_hint(SERVICE_KEY) == SERVICE_KEY[:6] + "…"


def test_config_alone_validates_and_translates() -> None:
    assert JobsConfig(table="t").table == "t"
    with pytest.raises(ConfigurationError, match="SUPABASE_JOBS_TABLE"):
        JobsConfig(table="not valid")


def test_check_service_role_accepts_service_keys_and_refuses_users() -> None:
    check_service_role(SERVICE_KEY, f"Bearer {SERVICE_KEY}")
    check_service_role("sb_secret_abc123456789", "Bearer sb_secret_abc123456789")
    # A secret key whose Authorization is a service_role JWT (Kong's mapping) is fine.
    check_service_role("sb_secret_abc123456789", f"Bearer {SERVICE_KEY}")
    user = mint_jwt("authenticated", sub="u1")
    with pytest.raises(NotServiceRoleError, match="signed-in user") as info:
        check_service_role(SERVICE_KEY, f"Bearer {user}")
    assert user[6:] not in str(info.value)
    with pytest.raises(NotServiceRoleError):
        check_service_role(SERVICE_KEY, "Basic dXNlcjpwYXNz")
