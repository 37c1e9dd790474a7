"""examples/dispatch_job.py: exit code 2 unconfigured; its full run over a mocked gateway."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import respx

from ._helpers import SERVICE_KEY, URL, job_row

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dispatch_job.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dispatch_job_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_a_project_it_explains_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert _load().main([]) == 2
    err = capsys.readouterr().err
    assert "SUPABASE_URL" in err
    assert ".env.example" in err


def test_full_run_dispatches_reads_back_scrubs_and_cleans_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SUPABASE_URL", URL)
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", SERVICE_KEY)
    stored: dict[str, dict[str, Any]] = {}

    def insert(request: httpx.Request) -> httpx.Response:
        row = job_row(**json.loads(request.content))
        stored[row["id"]] = row
        return httpx.Response(201, json=[row])

    def select_or_delete(request: httpx.Request) -> httpx.Response:
        job_id = request.url.params["id"].removeprefix("eq.")
        row = stored.get(job_id) if request.method == "GET" else stored.pop(job_id, None)
        return httpx.Response(200, json=[row] if row else [])

    tenant = "1521f0ae-4db7-4110-a993-c494535d9b00"
    with respx.mock(assert_all_called=True) as router:
        inserts = router.post(f"{URL}/rest/v1/jobs").mock(side_effect=insert)
        router.route(url__startswith=f"{URL}/rest/v1/jobs?").mock(side_effect=select_or_delete)
        code = _load().main(["--tenant-id", tenant])

    out = capsys.readouterr().out
    assert code == 0, out
    assert "ALL CHECKS PASSED" in out
    assert stored == {}  # both jobs deleted
    sent = json.loads(inserts.calls[1].request.content)["payload"]
    assert sent == {"prompt": "Summarise this", "max_tokens": 512}
    assert "hunter2" not in out
