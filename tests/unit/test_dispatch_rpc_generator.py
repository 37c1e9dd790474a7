"""gen_sql_secret_rules.py: the SQL carries every Python rule word; --check catches drift."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from supabase_jobs import _secret_rules as rules

ROOT = Path(__file__).resolve().parents[2]


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_sql_secret_rules", ROOT / "scripts" / "gen_sql_secret_rules.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_sql_secret_rules", module)
    spec.loader.exec_module(module)
    return module


GEN = load_generator()


def test_every_rule_word_is_in_the_sql() -> None:
    sql = GEN.render(GEN.load_rules())
    for name in GEN._WORD_SETS:
        for word in getattr(rules, name):
            assert f"'{word}'" in sql or f"{word}|" in sql or f"|{word})" in sql, (name, word)
    for source, target in rules.CONFUSABLES.items():
        assert source in sql and target in sql


def test_a_new_rule_word_changes_the_sql(monkeypatch: pytest.MonkeyPatch) -> None:
    before = GEN.render(GEN.load_rules())
    monkeypatch.setattr(rules, "BENIGN_HEADS", rules.BENIGN_HEADS | {"zzzunused"})
    after = GEN.render(GEN.load_rules())
    assert "'zzzunused'" in after and "'zzzunused'" not in before


def test_a_word_sql_cannot_quote_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rules, "AUTH_HEADS", rules.AUTH_HEADS | {"it's"})
    with pytest.raises(SystemExit, match="AUTH_HEADS"):
        GEN.load_rules()


def test_check_mode_finds_stale_and_missing_blocks(tmp_path: Path) -> None:
    current = tmp_path / "current.sql"
    stale = tmp_path / "stale.sql"
    missing = tmp_path / "missing.sql"
    current.write_text("-- head\n" + GEN.BEGIN + GEN.END + "-- tail\n", encoding="utf-8")
    stale.write_text(current.read_text(encoding="utf-8"), encoding="utf-8")
    missing.write_text("select 1;\n", encoding="utf-8")
    assert GEN.main(["--files", str(current)]) == 0  # writes the block
    text = current.read_text(encoding="utf-8")
    assert text.startswith("-- head\n" + GEN.BEGIN) and text.endswith(GEN.END + "-- tail\n")
    assert GEN.main(["--check", "--files", str(current)]) == 0
    assert GEN.main(["--check", "--files", str(stale)]) == 1
    assert stale.read_text(encoding="utf-8") == "-- head\n" + GEN.BEGIN + GEN.END + "-- tail\n"
    with pytest.raises(SystemExit, match="no generated block"):
        GEN.main(["--check", "--files", str(missing)])
