"""Generate ``supabase_jobs.sj_is_secret_key(text)`` from the Python secret key rules.

The SQL dispatch RPC (``sj_dispatch_v1``) scrubs secret keys out of payloads with the SAME
rules as the Python SDK. Those rules are data (word sets, suffixes, qualifiers) in
``supabase_jobs._secret_keys`` plus a few lines of logic; this script copies the data into
a SQL function, written between markers into every file that holds them (migration 0008
and ``sql/schema.sql``), so the two cannot drift. The logic is mirrored by hand below and
proven equal on a shared corpus of key names by
``tests/integration/test_dispatch_rpc_secret_keys.py``.

    python scripts/gen_sql_secret_rules.py          # rewrite the generated blocks
    python scripts/gen_sql_secret_rules.py --check  # exit 1 if a block is stale (CI)

Normalisation in SQL follows the Python one: NFKC and format characters (Unicode ``Cf``,
list generated from Python's ``unicodedata``) removed for non-ASCII names; words split at
camelCase, acronyms, digits and separators; case-folded. Python classifies any Unicode
letter; SQL has no locale-independent Unicode classes, so a non-ASCII character that
survives NFKC is a word separator in SQL, except the few whose case fold contains ASCII
letters (``ß`` -> ``ss``), which are listed with Python's class and fold; where Python
could read such a character as a lower-case letter after capitals (splitting off the last
capital), SQL also tests the word without that capital. So SQL is stricter, never laxer: a
name Python finds secret is secret in SQL too (the test checks it).

Note for later releases: migrations are forward-only. Once 0008 has shipped, a change of
the rules must go out as a NEW migration holding the markers (point ``--files`` at it).
"""

from __future__ import annotations

import argparse
import re
import sys
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from supabase_jobs import _secret_keys  # noqa: E402  (after the path tweak above)

DEFAULT_FILES = (
    ROOT / "supabase_jobs" / "sql" / "migrations" / "0008_dispatch_rpc.sql",
    ROOT / "supabase_jobs" / "sql" / "schema.sql",
)
BEGIN = "-- BEGIN GENERATED sj_is_secret_key (scripts/gen_sql_secret_rules.py; do not edit)\n"
END = "-- END GENERATED sj_is_secret_key\n"
_BLOCK = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
_WORD = re.compile(r"[a-z]+")


def load_rules() -> dict[str, Any]:
    """The rule data, read from the Python module (the one place to adapt if it moves)."""
    rules = {
        "always": _secret_keys._ALWAYS_SECRET_WORDS,
        "suffixes": _secret_keys._SECRET_SUFFIXES,
        "key_qualifiers": _secret_keys._KEY_QUALIFIERS,
        "token_qualifiers": _secret_keys._TOKEN_QUALIFIERS,
        "auth_heads": _secret_keys._AUTH_HEADS,
        "auth_prefixes": _secret_keys._AUTH_PREFIXES,
    }
    for name, words in rules.items():
        for word in words:
            if not _WORD.fullmatch(word):  # the SQL below quotes them as plain words
                raise SystemExit(f"{name}: {word!r} is not a lower-case ASCII word")
    return rules


def _ranges(codes: Iterable[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for code in codes:
        if out and out[-1][1] == code - 1:
            out[-1] = (out[-1][0], code)
        else:
            out.append((code, code))
    return out


def _esc(code: int) -> str:
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def format_class() -> str:
    """A PostgreSQL regex bracket matching every Unicode ``Cf`` character."""
    codes = (c for c in range(0x80, 0x110000) if unicodedata.category(chr(c)) == "Cf")
    parts = [_esc(a) if a == b else f"{_esc(a)}-{_esc(b)}" for a, b in _ranges(codes)]
    return "[" + "".join(parts) + "]"


def folding_letters() -> list[tuple[str, str, str]]:
    """``(char, kind, fold)`` for non-ASCII characters NFKC keeps whose fold has ASCII."""
    out = []
    for code in range(0x80, 0x110000):
        ch = chr(code)
        if unicodedata.normalize("NFKC", ch) != ch or not any(c.isascii() for c in ch.casefold()):
            continue
        kind = "U" if ch.isupper() else "L" if ch.isalpha() else "D" if ch.isdigit() else ""
        out.append((ch, kind, ch.casefold()))
    return out


def _array(words: Iterable[str]) -> str:
    return "array[" + ", ".join(f"'{w}'" for w in sorted(words)) + "]"


def render(rules: dict[str, Any]) -> str:
    """The generated SQL block (markers included)."""
    specials = folding_letters()
    kinds = "\n".join(f"        when '{ch}' then '{kind}'" for ch, kind, _ in specials)
    folds = "\n".join(f"        when '{ch}' then '{fold}'" for ch, _, fold in specials)
    suffixes = "|".join(sorted(rules["suffixes"]))
    body = f"""\
-- Whether the value under a JSON key named p_name is a secret: supabase_jobs._secret_keys
-- in SQL (design.md section 5). The word lists below are copied from the Python module.
create or replace function supabase_jobs.sj_is_secret_key(p_name text)
returns boolean
language plpgsql
immutable
strict
parallel safe
security invoker
set search_path = ''
as $$
declare
  v_name text := p_name;
  v_words text[] := '{{}}';
  v_extra text[] := '{{}}';
  v_current text := '';
  v_count integer := 0;
  v_digits boolean := false;
  v_previous text := '';
  v_kind text;
  v_fold text;
  v_last_fold text := '';
  v_ch text;
  v_code integer;
  v_last text;
  v_before text;
begin
  if pg_catalog.octet_length(v_name) <> pg_catalog.char_length(v_name) then
    -- Not ASCII: NFKC, then drop format characters (zero-width ...) that could hide a word.
    v_name := pg_catalog.regexp_replace(
      pg_catalog.normalize(v_name, 'NFKC'), '{format_class()}', '', 'g');
  end if;
  foreach v_ch in array pg_catalog.string_to_array(v_name, null) loop
    v_code := pg_catalog.ascii(v_ch);
    v_fold := null;
    if v_code between 65 and 90 then
      v_kind := 'U';
      v_fold := pg_catalog.chr(v_code + 32);
    elsif v_code between 97 and 122 then
      v_kind := 'L';
    elsif v_code between 48 and 57 then
      v_kind := 'D';
    elsif v_code < 128 then
      v_kind := '';
    else
      -- Letters whose case fold is ASCII keep Python's class; other non-ASCII characters
      -- separate words (stricter than Python, see scripts/gen_sql_secret_rules.py).
      v_kind := case v_ch
{kinds}
        else '' end;
      if v_kind = '' and v_previous = 'U' and v_count > 1 then
        -- Python may see a lower-case letter here, which makes the last capital start a
        -- new word ("COOKIEDž": "cookie", "dž"); the word without it is tested too.
        v_extra := v_extra || pg_catalog.left(v_current, -pg_catalog.char_length(v_last_fold));
      end if;
      v_fold := case v_ch
{folds}
        end;
    end if;
    v_fold := coalesce(v_fold, v_ch);
    if v_kind = '' or (v_count > 0 and ((v_kind = 'D') <> (v_previous = 'D')
                                         or (v_kind = 'U' and v_previous = 'L'))) then
      if v_count > 0 and not v_digits then
        v_words := v_words || v_current;
      end if;
      v_current := '';
      v_count := 0;
    elsif v_kind = 'L' and v_previous = 'U' and v_count > 1 then
      -- "APIKey": the last capital starts the next word.
      v_words := v_words || pg_catalog.left(v_current, -pg_catalog.char_length(v_last_fold));
      v_current := v_last_fold;
      v_count := 1;
    end if;
    if v_kind <> '' then
      v_current := v_current || v_fold;
      v_last_fold := v_fold;
      v_count := v_count + 1;
      v_digits := v_kind = 'D';
    end if;
    v_previous := v_kind;
  end loop;
  if v_count > 0 and not v_digits then
    v_words := v_words || v_current;
  end if;
  if pg_catalog.cardinality(v_words) = 0 then
    return false;
  end if;
  if (v_words || v_extra) && {_array(rules["always"])}::text[]
     or exists (select from pg_catalog.unnest(v_words || v_extra) w
                 where w ~ '({suffixes})$') then
    return true;
  end if;
  v_last := v_words[pg_catalog.cardinality(v_words)];
  v_before := coalesce(v_words[pg_catalog.cardinality(v_words) - 1], '');
  if v_last ~ 'token$' then
    return true;
  end if;
  if v_last ~ 'tokens$' then
    return v_before = any({_array(rules["token_qualifiers"])})
        or pg_catalog.left(v_last, -6) = any({_array(rules["token_qualifiers"])});
  end if;
  if v_last in ('key', 'keys') then
    return v_before = any({_array(rules["key_qualifiers"])});
  end if;
  if v_last ~ 'keys?$' then
    return pg_catalog.regexp_replace(v_last, 'keys?$', '')
           = any({_array(rules["key_qualifiers"])});
  end if;
  if v_last = 'auth' or (v_last ~ 'auth$' and pg_catalog.left(v_last, -4)
                         = any({_array(rules["auth_prefixes"])})) then
    return true;
  end if;
  return v_before = 'auth' and v_last = any({_array(rules["auth_heads"])});
end;
$$;
"""
    return BEGIN + body + END


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or ``--check``) the generated blocks; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail instead of writing")
    parser.add_argument("--files", nargs="*", type=Path, default=list(DEFAULT_FILES))
    args = parser.parse_args(argv)
    block = render(load_rules())
    stale = []
    for path in args.files:
        text = path.read_text(encoding="utf-8")
        if not _BLOCK.search(text):
            raise SystemExit(f"{path}: no generated block (add the BEGIN/END marker lines)")
        updated = _BLOCK.sub(lambda _: block, text)
        if updated != text:
            stale.append(str(path.relative_to(ROOT)))
            if not args.check:
                path.write_text(updated, encoding="utf-8")
    if args.check and stale:
        print("stale generated sj_is_secret_key in: " + ", ".join(stale))
        print("run: python scripts/gen_sql_secret_rules.py")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
