"""One rule per name, used everywhere: registry, settings and dispatch agree on every name."""

from __future__ import annotations

import pytest

from supabase_jobs._constants import QUEUE_NAME_PATTERN, TYPE_NAME_PATTERN
from supabase_jobs._core import prepare_dispatch
from supabase_jobs._errors import ConfigurationError, ValidationError
from supabase_jobs._registry import JobTypeRegistry
from supabase_jobs._settings import JobsConfig
from supabase_jobs._validate import (
    is_identifier,
    is_queue_name,
    is_type_name,
    validate_queue_name,
    validate_type_name,
)

from ._helpers import TENANT

GOOD = ["send_email", "a", "mail.v2", "x:y-z", "a" * 63]
BAD = [
    "send_email\n",  # re.match with "$" accepts a trailing newline
    "send_email\r\n",
    "\nsend_email",
    "send_email ",
    "send_emai\u0142",
    "job\u0663",  # ARABIC-INDIC DIGIT THREE: a digit to \d, not to [0-9]
    "job\uff11",  # FULLWIDTH DIGIT ONE
    "\uff4aob",  # FULLWIDTH SMALL J
    "\u212aelvin",  # KELVIN SIGN, which case-folds to "k"
    "Send_email",
    "1job",
    "_job",
    "",
    "job\x00",
    "a" * 128,
]


@pytest.mark.parametrize("name", GOOD)
def test_good_names_pass_every_check(name: str) -> None:
    assert is_type_name(name) and is_queue_name(name)
    registry = JobTypeRegistry(types=())
    registry.register(name, queue=name)
    assert JobsConfig(default_queue=name).default_queue == name
    prepared = prepare_dispatch(JobsConfig(default_queue=name), registry, TENANT, name)
    assert prepared.row["type"] == name and prepared.row["queue"] == name


@pytest.mark.parametrize("name", BAD)
def test_bad_names_fail_every_check(name: str) -> None:
    assert not is_type_name(name) and not is_queue_name(name)
    with pytest.raises(ValidationError):
        validate_type_name(name)
    with pytest.raises(ValidationError):
        validate_queue_name(name)
    with pytest.raises(ConfigurationError):
        JobTypeRegistry(types=()).register(name)
    with pytest.raises(ConfigurationError):
        JobTypeRegistry(types=()).register("ok", queue=name)
    with pytest.raises(ConfigurationError) as info:
        JobsConfig(default_queue=name)
    assert "SUPABASE_JOBS_DEFAULT_QUEUE" in str(info.value)
    assert name.strip() not in str(info.value) or not name.strip()


@pytest.mark.parametrize("name", ["jobs\n", "jobs ", "j\u00f6bs", "1jobs", "jo-bs", ""])
def test_schema_and_table_names_are_plain_identifiers(name: str) -> None:
    assert not is_identifier(name)
    for field in ("table", "db_schema"):
        with pytest.raises(ConfigurationError):
            JobsConfig(**{field: name})


def test_type_names_longer_than_queue_names() -> None:
    # The two rules differ only in length, as the SQL CHECKs do.
    assert is_type_name("a" * 127) and not is_queue_name("a" * 64)
    assert "{0,126}" in TYPE_NAME_PATTERN and "{0,62}" in QUEUE_NAME_PATTERN


def test_non_strings_are_not_names() -> None:
    for value in (None, 1, b"job", ["job"]):
        assert not is_type_name(value) and not is_queue_name(value) and not is_identifier(value)
