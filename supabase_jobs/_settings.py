"""Settings from the environment or a ``.env`` file, and the service-role key checks.

Variables (``.env.example`` lists them all):

========================================  ==============================================
``SUPABASE_URL``                          required; ``https://<ref>.supabase.co`` or local
``SUPABASE_SERVICE_ROLE_KEY``             required (or ``SUPABASE_SECRET_KEY``): a
                                          service_role JWT or an ``sb_secret_...`` key
``SUPABASE_JOBS_SCHEMA``                  schema of the jobs table (``public``)
``SUPABASE_JOBS_TABLE``                   table name (``jobs``)
``SUPABASE_JOBS_DEFAULT_QUEUE``           queue used when neither call nor type sets one
``SUPABASE_JOBS_DEFAULT_PRIORITY``        priority default (0; higher runs first)
``SUPABASE_JOBS_DEFAULT_MAX_ATTEMPTS``    max_attempts default (5)
``SUPABASE_JOBS_MAX_PAYLOAD_BYTES``       serialized payload limit (256 KiB)
``SUPABASE_JOBS_MAX_PAYLOAD_DEPTH``       nesting limit (32)
``SUPABASE_JOBS_SCRUB_MODE``              ``remove`` (default), ``redact`` or ``raise``
``SUPABASE_JOBS_HTTP_TIMEOUT``            seconds per HTTP request (30)
========================================  ==============================================

The key is a :class:`~pydantic.SecretStr`; it appears nowhere (repr, str, logs, errors)
except as its first 6 characters via :func:`key_hint`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import jwt
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from ._constants import (
    DEFAULT_HTTP_TIMEOUT_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_PAYLOAD_BYTES,
    DEFAULT_MAX_PAYLOAD_DEPTH,
    DEFAULT_PRIORITY,
    DEFAULT_QUEUE,
    DEFAULT_SCHEMA,
    DEFAULT_TABLE,
    HARD_MAX_PAYLOAD_BYTES,
    HARD_MAX_PAYLOAD_DEPTH,
    MAX_MAX_ATTEMPTS,
    MAX_PRIORITY,
    MIN_PRIORITY,
    QUEUE_NAME_PATTERN,
)
from ._errors import ConfigurationError, NotServiceRoleError
from ._validate import is_identifier, is_queue_name

__all__ = ["JobsConfig", "JobsSettings", "ScrubMode", "check_service_role", "key_hint"]

ScrubMode = Literal["remove", "redact", "raise"]

_URL = re.compile(r"^https?://[^\s/?#@]+(/[^\s?#]*)?$")
_ROLE_SHAPE = re.compile(r"^[a-z_]{1,32}$")
_KEY_HINT_CHARS = 6

#: Field name -> the variable a user sets; errors always name the variable.
_ENV_NAMES: dict[str, str] = {
    "url": "SUPABASE_URL",
    "service_role_key": "SUPABASE_SERVICE_ROLE_KEY",
    "db_schema": "SUPABASE_JOBS_SCHEMA",
    "table": "SUPABASE_JOBS_TABLE",
    "default_queue": "SUPABASE_JOBS_DEFAULT_QUEUE",
    "default_priority": "SUPABASE_JOBS_DEFAULT_PRIORITY",
    "default_max_attempts": "SUPABASE_JOBS_DEFAULT_MAX_ATTEMPTS",
    "max_payload_bytes": "SUPABASE_JOBS_MAX_PAYLOAD_BYTES",
    "max_payload_depth": "SUPABASE_JOBS_MAX_PAYLOAD_DEPTH",
    "scrub_mode": "SUPABASE_JOBS_SCRUB_MODE",
    "http_timeout": "SUPABASE_JOBS_HTTP_TIMEOUT",
}


def key_hint(key: str | SecretStr | None) -> str:
    """Return the only form of a key that may be shown: its first 6 characters + ``…``."""
    if key is None:
        return "<none>"
    raw = key.get_secret_value() if isinstance(key, SecretStr) else key
    return raw[:_KEY_HINT_CHARS] + "…"


def _jwt_role(token: str) -> str | None:
    """The unverified ``role`` claim of a JWT, or ``None`` when ``token`` is not a JWT.

    Unverified on purpose: the project's JWT secret is not ours to hold. This is a guard
    against configuration mistakes; the database still enforces the real role.
    """
    if token.count(".") != 2:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None
    role = claims.get("role")
    return role if isinstance(role, str) else ""


def _key_problem(key: str) -> str | None:
    """Why ``key`` is not a service-role key (safe to show), or ``None`` when it is."""
    if key.startswith("sb_secret_"):
        return None
    if key.startswith("sb_publishable_"):
        return "is a publishable (browser) key; use the secret / service_role key"
    role = _jwt_role(key)
    if role is None:
        return "is neither a JWT nor an sb_secret_ key"
    if role == "service_role":
        return None
    shown = repr(role) if _ROLE_SHAPE.fullmatch(role) else "an unexpected role"
    return f"has role {shown}, not 'service_role' (the anon key cannot write jobs)"


def check_service_role(key: str, authorization: str | None = None) -> None:
    """Refuse anything that would not act as ``service_role`` on PostgREST.

    Args:
        key: The API key a supabase client sends as ``apikey``.
        authorization: The client's outgoing ``Authorization`` header, if known.

    Raises:
        NotServiceRoleError: An anon or publishable key, or an ``Authorization`` header
            carrying someone else's token (a signed-in user's session).
    """
    problem = _key_problem(key)
    if problem is not None:
        raise NotServiceRoleError(f"the API key ({key_hint(key)}) {problem}")
    if authorization is None:
        return
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise NotServiceRoleError("the client's Authorization header is not a Bearer token")
    if token == key:
        return
    problem = _key_problem(token)
    if problem is not None:
        raise NotServiceRoleError(
            f"the client's Authorization token ({key_hint(token)}) {problem}; a client "
            "with a signed-in user's session cannot be used for jobs"
        )


def _configuration_error(exc: PydanticValidationError) -> ConfigurationError:
    problems = []
    variables = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = str(error["loc"][0]) if error["loc"] else ""
        variable = _ENV_NAMES.get(loc, loc)
        # Name the variable a user sets, plus the keyword for callers passing kwargs.
        shown = f"{variable} ({loc}=)" if loc in _ENV_NAMES else variable
        if error["type"] == "missing":
            reason = "is not set"
            if loc == "SUPABASE_SERVICE_ROLE_KEY":
                shown = "SUPABASE_SERVICE_ROLE_KEY (or SUPABASE_SECRET_KEY)"
        else:
            reason = str(error["msg"]).removeprefix("Value error, ")
        variables.append(variable)
        problems.append(f"{shown} {reason}")
    return ConfigurationError(
        "invalid supabase-jobs configuration: " + "; ".join(problems), variables=tuple(variables)
    )


class JobsConfig(BaseModel):
    """The non-secret knobs of a jobs client (schema, table, defaults, limits).

    :class:`JobsSettings` is a ``JobsConfig`` read from the environment; build one
    directly to configure a client that wraps an existing supabase client.

    Attributes:
        db_schema: Schema of the jobs table and the ``sj_*`` functions.
        table: The jobs table.
        default_queue: Queue used when neither the call nor the job type sets one.
        default_priority: Priority used when neither the call nor the job type sets one.
        default_max_attempts: Attempt budget used when neither call nor type sets one.
        max_payload_bytes: Limit on the serialized payload (UTF-8 JSON bytes).
        max_payload_depth: Limit on payload nesting.
        scrub_mode: ``remove`` secret fields, ``redact`` their values, or ``raise``.
        http_timeout: Seconds per HTTP request (used by ``from_env``).
    """

    model_config = ConfigDict(
        frozen=True, populate_by_name=True, extra="forbid", hide_input_in_errors=True
    )

    db_schema: str = Field(default=DEFAULT_SCHEMA, validation_alias="SUPABASE_JOBS_SCHEMA")
    table: str = DEFAULT_TABLE
    default_queue: str = DEFAULT_QUEUE
    default_priority: int = Field(default=DEFAULT_PRIORITY, ge=MIN_PRIORITY, le=MAX_PRIORITY)
    default_max_attempts: int = Field(default=DEFAULT_MAX_ATTEMPTS, ge=1, le=MAX_MAX_ATTEMPTS)
    max_payload_bytes: int = Field(
        default=DEFAULT_MAX_PAYLOAD_BYTES, ge=2, le=HARD_MAX_PAYLOAD_BYTES
    )
    max_payload_depth: int = Field(
        default=DEFAULT_MAX_PAYLOAD_DEPTH, ge=1, le=HARD_MAX_PAYLOAD_DEPTH
    )
    scrub_mode: ScrubMode = "remove"
    http_timeout: float = Field(default=DEFAULT_HTTP_TIMEOUT_SECONDS, gt=0, le=3600)

    def __init__(self, **data: Any) -> None:
        # JobsSettings' BaseSettings.__init__ ends up here too, so env-sourced settings
        # get the same translation: pydantic's error -> ConfigurationError naming the var.
        try:
            super().__init__(**data)
        except PydanticValidationError as exc:
            raise _configuration_error(exc) from exc

    @field_validator("db_schema", "table")
    @classmethod
    def _check_identifier(cls, value: str) -> str:
        if not is_identifier(value):
            raise ValueError("must be a plain SQL identifier (letters, digits, _)")
        return value

    @field_validator("default_queue")
    @classmethod
    def _check_queue(cls, value: str) -> str:
        if not is_queue_name(value):
            raise ValueError(f"must match {QUEUE_NAME_PATTERN}")
        return value


class JobsSettings(BaseSettings, JobsConfig):
    """:class:`JobsConfig` plus the project URL and service-role key, from the environment.

    Precedence: keyword arguments > environment > ``.env`` file > defaults. Build it with
    :meth:`load` to get a :class:`ConfigurationError` naming the variable on bad input.

    Example:
        >>> settings = JobsSettings.load(env_file=None, url="http://127.0.0.1:54321",
        ...                              service_role_key="sb_secret_x")
        >>> settings.table
        'jobs'
    """

    model_config = SettingsConfigDict(
        env_prefix="SUPABASE_JOBS_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
        populate_by_name=True,
        hide_input_in_errors=True,
    )

    url: str = Field(validation_alias="SUPABASE_URL")
    service_role_key: SecretStr = Field(
        validation_alias=AliasChoices("SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_SECRET_KEY")
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not _URL.fullmatch(value):
            raise ValueError("must be an http(s) URL without credentials, query or fragment")
        return value

    @field_validator("service_role_key")
    @classmethod
    def _check_key(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value().strip()
        problem = _key_problem(raw)
        if problem is not None:
            raise ValueError(f"({key_hint(raw)}) {problem}")
        return SecretStr(raw)

    @classmethod
    def load(cls, *, env_file: str | Path | None = ".env", **overrides: Any) -> JobsSettings:
        """Read the settings: keyword overrides > environment > ``env_file`` > defaults.

        Args:
            env_file: The dotenv file to read (a missing file is ignored); ``None`` to
                read the process environment only.
            **overrides: Field values that win over the environment (``url``,
                ``service_role_key``, ``table``, ...).

        Raises:
            ConfigurationError: A variable is missing or malformed; the message names it
                and never shows a secret.
        """
        return cls(_env_file=env_file, **overrides)

    def __repr__(self) -> str:
        return (
            f"JobsSettings(url={self.url!r}, service_role_key={key_hint(self.service_role_key)!r}, "
            f"db_schema={self.db_schema!r}, table={self.table!r})"
        )

    __str__ = __repr__
