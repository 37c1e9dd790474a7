"""The public surface: one front door, a complete and sorted ``__all__``."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import supabase_jobs
from supabase_jobs._settings import _ENV_NAMES

ROOT = Path(__file__).resolve().parents[2]


def test_all_is_sorted_and_unique() -> None:
    assert supabase_jobs.__all__ == sorted(set(supabase_jobs.__all__))


def test_all_lists_every_public_name() -> None:
    public = {
        name
        for name, value in vars(supabase_jobs).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert public | {"__version__"} == set(supabase_jobs.__all__)


def test_every_exported_name_resolves() -> None:
    for name in supabase_jobs.__all__:
        assert getattr(supabase_jobs, name) is not None, name


def test_every_exported_error_is_a_jobs_error() -> None:
    # Snooze, Cancel and Fail are outcomes a handler raises, not errors the SDK raises.
    outcomes = {supabase_jobs.Snooze, supabase_jobs.Cancel, supabase_jobs.Fail}
    errors = [
        value
        for name in supabase_jobs.__all__
        if inspect.isclass(value := getattr(supabase_jobs, name))
        and issubclass(value, Exception)
        and value not in outcomes
    ]
    assert len(errors) >= 20
    assert all(issubclass(err, supabase_jobs.JobsError) for err in errors)


def test_public_callables_have_docstrings() -> None:
    for name in supabase_jobs.__all__:
        value = getattr(supabase_jobs, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), name
    for cls in (supabase_jobs.JobsClient, supabase_jobs.AsyncJobsClient):
        for meth_name, meth in inspect.getmembers(cls, inspect.isfunction):
            if not meth_name.startswith("_"):
                assert inspect.getdoc(meth), f"{cls.__name__}.{meth_name}"


def test_env_example_lists_every_variable() -> None:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^([A-Z_]+)=", text, flags=re.MULTILINE))
    wanted = set(_ENV_NAMES.values()) | {"SUPABASE_SECRET_KEY"}
    assert wanted <= listed, sorted(wanted - listed)


def test_version_matches_pyproject() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'path = "supabase_jobs/_version.py"' in text
    assert re.fullmatch(r"\d+\.\d+\.\d+", supabase_jobs.__version__)
