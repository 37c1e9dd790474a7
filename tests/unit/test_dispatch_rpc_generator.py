"""gen_sql_secret_rules.py: the SQL carries every Python rule; --check catches drift.

Word changes flow into the SQL; a new set or a logic change stops the generator.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from supabase_jobs import _secret_keys as keys
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


def test_the_word_sets_are_the_ones_the_python_logic_reads() -> None:
    source = inspect.getsource(keys)
    read = set(re.findall(r"rules\.([A-Z][A-Z_]+)", source))
    assert set(GEN._WORD_SETS) == read
    # The later rule kinds are among them (each reaches the SQL, see above).
    assert {"CODE_QUALIFIERS", "CREDENTIAL_HEADS", "PASS_PREFIXES"} <= read
    assert GEN.rule_sets("x = rules.NEW_QUALIFIERS | rules.fold('a')") == ("NEW_QUALIFIERS",)


def test_every_word_set_is_read_by_the_sql_body() -> None:
    sql = GEN.render(GEN.load_rules())
    for name in GEN._WORD_SETS:
        if name not in GEN._REGEX_SETS:
            assert sql.count(f"c_{name.lower()}") >= 2, name  # declared and used


def test_a_set_the_sql_never_reads_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # A new kind of rule in Python: a set the SQL body does not mirror yet.
    monkeypatch.setattr(GEN, "_WORD_SETS", (*GEN._WORD_SETS, "BEARER_PROSE_WORDS"))
    with pytest.raises(SystemExit, match=r"rules\.BEARER_PROSE_WORDS"):
        GEN.render(GEN.load_rules())


def test_the_sql_mirrors_the_current_python_logic() -> None:
    assert GEN.current_fingerprint() == GEN.MIRRORED_LOGIC


def logic_sources(replace: tuple[str, str] = ("", "")) -> dict[str, tuple[str, tuple[str, ...]]]:
    sources = {}
    for module, names in GEN.LOGIC_NAMES.items():
        source = inspect.getsource(module)
        if module is keys and replace[0]:
            assert replace[0] in source
            source = source.replace(replace[0], replace[1])
        sources[module.__name__] = (source, names)
    return sources


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('return before == "pass"  # pass_word', 'return before in ("pass", "x")'),
        ("head in rules.CREDENTIAL_HEADS", "head in rules.BENIGN_HEADS"),
        ('if head in ("phrase", "seed"):', 'if head in ("phrase",):'),
    ],
)
def test_a_logic_change_changes_the_fingerprint(old: str, new: str) -> None:
    assert GEN.logic_fingerprint(logic_sources()) == GEN.MIRRORED_LOGIC
    assert GEN.logic_fingerprint(logic_sources((old, new))) != GEN.MIRRORED_LOGIC


def test_comments_and_docstrings_do_not_change_the_fingerprint() -> None:
    changed = logic_sources(
        ('"""The head rules (step 6 of :mod:`._secret_rules`)."""', '"""Reworded."""  # note')
    )
    assert GEN.logic_fingerprint(changed) == GEN.MIRRORED_LOGIC


def test_a_stale_mirror_is_refused_loudly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(GEN, "MIRRORED_LOGIC", "0" * 64)
    with pytest.raises(SystemExit, match=r"update render\(\).*MIRRORED_LOGIC = '[0-9a-f]{64}'"):
        GEN.load_rules()
    current = tmp_path / "current.sql"
    current.write_text(GEN.BEGIN + GEN.END, encoding="utf-8")
    with pytest.raises(SystemExit, match="changed since the SQL mirror"):
        GEN.main(["--check", "--files", str(current)])


def test_a_logic_definition_that_is_gone_is_refused() -> None:
    sources = logic_sources(("def _secret_head(", "def _head_rules("))
    with pytest.raises(SystemExit, match="_secret_head is gone"):
        GEN.logic_fingerprint(sources)
