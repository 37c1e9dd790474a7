"""Suite-wide fixtures: every test starts from a clean environment.

A developer's shell or ``.env`` may hold a real project's ``SUPABASE_*`` values; no test
may ever read them (or send a request to that project), so they are removed for each test
and the working directory is a fresh temporary folder with no ``.env``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

_PREFIXES = ("SUPABASE_", "DATABASE_URL")


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(_PREFIXES) and name != "SUPABASE_JOBS_PG_BINDIR":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    yield
