"""JobTypeRegistry: default types, registration, the decorator form, typed errors."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from supabase_jobs._errors import ConfigurationError, UnknownJobTypeError, ValidationError
from supabase_jobs._registry import JobType, JobTypeRegistry


def test_defaults_are_the_six_types_of_the_existing_app() -> None:
    assert JobTypeRegistry().names() == [
        "ai_generation",
        "document_export",
        "document_indexing",
        "tenant_cleanup",
        "test_job",
        "video_ingestion",
    ]
    assert JobTypeRegistry(types=()).names() == []


def test_register_with_defaults_and_model() -> None:
    class Email(BaseModel):
        to: str

    registry = JobTypeRegistry()
    spec = registry.register("send_email", Email, queue="mail", priority=-5, max_attempts=10)
    assert registry.get("send_email") == spec
    assert (spec.model, spec.queue, spec.priority, spec.max_attempts) == (Email, "mail", -5, 10)
    assert "send_email" in registry
    assert len(registry) == 7


def test_register_decorates_a_model_and_keeps_the_defaults() -> None:
    registry = JobTypeRegistry(types=())

    @registry.register("resize.image", priority=3)
    class Resize(BaseModel):
        width: int

    spec = registry.get("resize.image")
    assert spec.model is Resize
    assert spec.priority == 3
    assert Resize(width=1).width == 1  # the class itself is returned unchanged


def test_registering_again_replaces_the_type() -> None:
    registry = JobTypeRegistry()
    registry.register("test_job", queue="tests")
    assert registry.get("test_job").queue == "tests"


def test_unknown_type_is_a_typed_validation_error() -> None:
    registry = JobTypeRegistry()
    with pytest.raises(UnknownJobTypeError) as info:
        registry.get("nope")
    assert isinstance(info.value, ValidationError)
    assert info.value.path == "type"
    with pytest.raises(UnknownJobTypeError) as info:
        registry.get(42, path="jobs[2].type")
    assert info.value.path == "jobs[2].type"


@pytest.mark.parametrize(
    "name", ["", "Upper", "1starts_with_digit", "has space", "a" * 128, "é_accent", None]
)
def test_bad_names_are_refused(name: Any) -> None:
    with pytest.raises(ConfigurationError):
        JobTypeRegistry().register(name)


@pytest.mark.parametrize(
    "options",
    [
        {"queue": "Bad Queue"},
        {"priority": 101},
        {"priority": True},
        {"max_attempts": 0},
        {"max_attempts": 1001},
        {"model": dict},
    ],
)
def test_bad_defaults_are_refused(options: Any) -> None:
    with pytest.raises(ConfigurationError):
        JobTypeRegistry().register("ok_name", **options)


def test_name_pattern_edges() -> None:
    registry = JobTypeRegistry(types=())
    registry.register("a")
    registry.register("a" + "b" * 126)
    registry.register("ns:job.v2-x")
    assert isinstance(registry.get("ns:job.v2-x"), JobType)
