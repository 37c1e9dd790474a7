"""The sync client is generated from the async one and cannot drift."""

from __future__ import annotations

import importlib.util
import inspect
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from supabase_jobs._async._client import AsyncJobsClient
from supabase_jobs._sync._client import JobsClient

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "unasync.py"
# Names that differ on purpose, as in httpx: aclose/close, __aenter__/__enter__...
RENAMED = {"aclose": "close", "__aenter__": "__enter__", "__aexit__": "__exit__"}


def _public(cls: type) -> dict[str, Any]:
    return {
        name: member
        for name, member in vars(cls).items()
        if not name.startswith("_") or name in RENAMED or name in RENAMED.values()
    }


def test_same_public_methods_with_the_same_signatures() -> None:
    async_members = _public(AsyncJobsClient)
    sync_members = _public(JobsClient)
    assert {RENAMED.get(name, name) for name in async_members} == set(sync_members)
    assert "dispatch" in sync_members and "complete_many" in sync_members
    for name, member in async_members.items():
        twin = sync_members[RENAMED.get(name, name)]
        if isinstance(member, property):
            assert isinstance(twin, property)
            continue
        func = member.__func__ if isinstance(member, classmethod) else member
        twin_func = twin.__func__ if isinstance(twin, classmethod) else twin
        a, s = inspect.signature(func), inspect.signature(twin_func)
        assert [(p.name, p.kind, p.default) for p in a.parameters.values()] == [
            (p.name, p.kind, p.default) for p in s.parameters.values()
        ], name
        if not name.startswith("__") or name in RENAMED:
            assert inspect.iscoroutinefunction(func), name
            assert not inspect.iscoroutinefunction(twin_func), name


def test_generated_sync_client_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("unasync_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_check_fails_on_drift(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    unasync = _load_script()
    target = tmp_path / "_sync"
    shutil.copytree(unasync.TARGET_DIR, target)
    monkeypatch.setattr(unasync, "TARGET_DIR", target)
    monkeypatch.setattr(unasync, "ROOT", tmp_path)
    monkeypatch.setattr(unasync, "ruff_format", lambda text, filename: text)
    assert unasync.main(["--check"]) == 1  # unformatted output differs from the real file
    unasync.main([])
    assert unasync.main(["--check"]) == 0
    client = target / "_client.py"
    client.write_text(client.read_text() + "\n# hand edit\n")
    assert unasync.main(["--check"]) == 1
    assert "out of date" in capsys.readouterr().out


def test_unused_substitution_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    unasync = _load_script()
    rules = [*unasync.SUBSTITUTIONS, (r"\bnever_used_anywhere\b", "x")]
    monkeypatch.setattr(unasync, "SUBSTITUTIONS", rules)
    monkeypatch.setattr(unasync, "_COMPILED", [(unasync.re.compile(p), r) for p, r in rules])
    monkeypatch.setattr(unasync, "ruff_format", lambda text, filename: text)
    with pytest.raises(SystemExit, match="unused substitutions"):
        unasync.generate()
