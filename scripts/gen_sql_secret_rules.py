"""Generate ``supabase_jobs.sj_is_secret_key(text)`` from the Python secret key rules.

The SQL dispatch RPC (``sj_dispatch_v1``) scrubs secret keys out of payloads with the SAME
rules as the Python SDK. Those rules are data in ``supabase_jobs._secret_rules`` (word
sets, stems, the fold tables) plus the few lines of logic in ``_secret_keys``; this script
copies the data into a SQL function, written between markers into every file that holds
them (migration 0008 and ``sql/schema.sql``), so the two cannot drift. The logic is
mirrored by hand below and proven equal on a shared corpus of key names by
``tests/integration/test_dispatch_rpc_secret_keys.py``.

    python scripts/gen_sql_secret_rules.py          # rewrite the generated blocks
    python scripts/gen_sql_secret_rules.py --check  # exit 1 if a block is stale (CI)

Folding in SQL follows :func:`_secret_rules.fold`: NFKD, the combining marks and ignored
format characters dropped, Cyrillic/Greek look-alikes translated to Latin (all three
tables generated from the Python data). Names that fold to ASCII (accented Latin,
look-alikes, full-width forms, zero-width tricks) are then judged exactly alike. Python
classifies any other Unicode character as a letter, digit or separator; SQL has no
locale-independent Unicode classes, so it judges such a name under each of the four
readings and calls it secret if any reading does: never laxer than Python when the
remaining characters are of one kind, sometimes stricter (the few characters whose case
fold is ASCII, ``ß`` -> ``ss``, are listed with Python's class).

Note for later releases: migrations are forward-only. Once 0008 has shipped, a change of
the rules must go out as a NEW migration holding the markers (point ``--files`` at it).
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from supabase_jobs import _secret_rules as rules  # noqa: E402  (after the path tweak above)

DEFAULT_FILES = (
    ROOT / "supabase_jobs" / "sql" / "migrations" / "0008_dispatch_rpc.sql",
    ROOT / "supabase_jobs" / "sql" / "schema.sql",
)
BEGIN = "-- BEGIN GENERATED sj_is_secret_key (scripts/gen_sql_secret_rules.py; do not edit)\n"
END = "-- END GENERATED sj_is_secret_key\n"
_BLOCK = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
_WORD = re.compile(r"[a-z0-9]+")
_WORD_SETS = (
    "ALWAYS_SECRET_WORDS",
    "AUTH_HEADS",
    "AUTH_PREFIXES",
    "BENIGN_HEADS",
    "BENIGN_TOKEN_QUALIFIERS",
    "KEY_QUALIFIERS",
    "KEY_STEMS",
    "PASS_BENIGN_QUALIFIERS",
    "PHRASE_QUALIFIERS",
    "PREDICATE_PREFIXES",
    "SECRET_SUFFIXES",
    "SHORT_PASSWORD_WORDS",
    "TOKEN_QUALIFIERS",
    "VALUE_FORM_WORDS",
)


def load_rules() -> dict[str, Any]:
    """The rule data, read from ``_secret_rules`` (the one place to adapt if it moves)."""
    data: dict[str, Any] = {name: getattr(rules, name) for name in _WORD_SETS}
    for name in _WORD_SETS:
        for word in data[name]:
            if not _WORD.fullmatch(word):  # the SQL below quotes them as plain words
                raise SystemExit(f"{name}: {word!r} is not a lower-case ASCII word")
    data["dropped"] = re.compile(f"[{rules.COMBINING_MARKS}{rules.IGNORED_CHARS}]")
    data["confusables"] = rules.CONFUSABLES
    return data


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


def char_class(pattern: re.Pattern[str]) -> str:
    """A PostgreSQL regex bracket matching exactly the characters ``pattern`` matches."""
    codes = (c for c in range(0x80, 0x110000) if pattern.match(chr(c)))
    parts = [_esc(a) if a == b else f"{_esc(a)}-{_esc(b)}" for a, b in _ranges(codes)]
    return "[" + "".join(parts) + "]"


def _kind(ch: str) -> str:
    return "U" if ch.isupper() else "L" if ch.isalpha() else "D" if ch.isdigit() else ""


def folding_letters() -> list[tuple[str, str, str]]:
    """``(char, kind, fold)`` for non-ASCII characters the fold keeps whose case fold is ASCII."""
    out = []
    for code in range(0x80, 0x110000):
        ch = chr(code)
        if rules.fold(ch) == ch and any(c.isascii() for c in ch.casefold()):
            out.append((ch, _kind(ch), ch.casefold()))
    return out


def _constants(data: dict[str, Any]) -> str:
    """One ``c_<set> constant text[]`` declaration per word set, wrapped at 96 columns."""
    out = []
    for name in _WORD_SETS:
        if name in ("KEY_STEMS", "SECRET_SUFFIXES"):
            continue  # used as regular expressions, not arrays
        words = ", ".join(f"'{w}'" for w in sorted(data[name]))
        wrapped = textwrap.wrap(words, 90, initial_indent="    ", subsequent_indent="    ")
        out.append(f"  c_{name.lower()} constant text[] := array[\n" + "\n".join(wrapped) + "];")
    return "\n".join(out)


def _sql_text(text: str) -> str:
    """A standard SQL string literal (the characters themselves; the file is UTF-8)."""
    return "'" + text.replace("'", "''") + "'"


def render(data: dict[str, Any]) -> str:
    """The generated SQL block (markers included)."""
    specials = folding_letters()
    kinds = "\n".join(f"        when '{ch}' then '{kind}'" for ch, kind, _ in specials)
    folds = "\n".join(f"        when '{ch}' then '{fold}'" for ch, _, fold in specials)
    confusables = data["confusables"]
    sources = _sql_text("".join(confusables))
    targets = _sql_text("".join(confusables.values()))
    stems = "|".join(sorted(data["KEY_STEMS"]))
    suffixes = "|".join(sorted(data["SECRET_SUFFIXES"]))
    body = f"""\
-- Whether the value under a JSON key named p_name is a secret: supabase_jobs._secret_keys
-- in SQL (design.md section 5; the steps are listed in supabase_jobs/_secret_rules.py).
-- Every word list below is copied from the Python module.
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
  v_words text[];
  v_modes text[] := array[''];
  v_mode text;
  v_current text;
  v_count integer;
  v_digits boolean;
  v_previous text;
  v_kind text;
  v_fold text;
  v_last_fold text;
  v_ch text;
  v_code integer;
  v_end integer;
  v_head text;
  v_before text;
{_constants(data)}
begin
  if pg_catalog.octet_length(v_name) <> pg_catalog.char_length(v_name) then
    -- 1. Fold (not ASCII only): NFKD, drop combining marks and invisible characters, map
    -- Cyrillic and Greek look-alikes to Latin letters.
    v_name := pg_catalog.translate(
      pg_catalog.regexp_replace(pg_catalog.normalize(v_name, 'NFKD'),
        '{char_class(data["dropped"])}', '', 'g'),
      {sources},
      {targets});
  end if;
  -- 3. No stem, no secret (a cheap gate).
  if v_name !~* '({stems})' then
    return false;
  end if;
  if pg_catalog.octet_length(v_name) <> pg_catalog.char_length(v_name) then
    -- Non-ASCII characters are left: Python reads each as a separator, a lower- or
    -- upper-case letter or a digit, which SQL cannot tell. Judge the name under each
    -- reading: secret if any says so (stricter, never laxer, when they are of one kind).
    v_modes := array['', 'L', 'U', 'D'];
  end if;
  foreach v_mode in array v_modes loop
  v_words := '{{}}';
  v_current := '';
  v_count := 0;
  v_digits := false;
  v_previous := '';
  v_last_fold := '';
  -- 2. Words: split at separators, camelCase, acronyms and digits; case-fold; drop numbers.
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
      -- Letters whose case fold is ASCII keep Python's class; the others are read as
      -- v_mode says (see above).
      v_kind := case v_ch
{kinds}
        else v_mode end;
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
  v_end := pg_catalog.cardinality(v_words);
  -- 4. No words, or a predicate first (has_password): not secret.
  if v_end = 0 or (v_end > 1 and v_words[1] = any(c_predicate_prefixes)) then
    continue;
  end if;
  -- 5. Trailing representation words (api_key_value): the head comes before them.
  while v_end > 1 and v_words[v_end] = any(c_value_form_words) loop
    v_end := v_end - 1;
  end loop;
  v_head := v_words[v_end];
  v_before := case when v_end > 1 then v_words[v_end - 1] else '' end;
  -- 6. Head rules: a match is secret; otherwise go on to step 7.
  if v_head ~ 'token$' then
    if v_before <> all(c_benign_token_qualifiers)
       and pg_catalog.left(v_head, -5) <> all(c_benign_token_qualifiers) then
      return true;
    end if;
  elsif v_head ~ 'tokens$' then
    if v_before = any(c_token_qualifiers)
       or pg_catalog.left(v_head, -6) = any(c_token_qualifiers) then
      return true;
    end if;
  elsif v_head in ('key', 'keys') then
    if v_before = any(c_key_qualifiers) then
      return true;
    end if;
  elsif v_head ~ 'keys?$' then
    if pg_catalog.regexp_replace(v_head, 'keys?$', '')
       = any(c_key_qualifiers) then
      return true;
    end if;
  elsif v_head = 'phrase' then
    if v_before = any(c_phrase_qualifiers) then
      return true;
    end if;
  elsif v_head = any(c_short_password_words) then
    if v_before <> all(c_pass_benign_qualifiers) then
      return true;
    end if;
  elsif v_head = 'auth' or (v_head ~ 'auth$'
        and pg_catalog.left(v_head, -4) = any(c_auth_prefixes)) then
    return true;
  elsif v_before = 'auth' and v_head = any(c_auth_heads) then
    return true;
  end if;
  -- 7. A head about the secret (password_policy) is not one; else any always-secret word.
  if v_head = any(c_benign_heads) and v_end > 1 then
    continue;
  end if;
  if v_words[1:v_end] && c_always_secret_words
       or exists (select from pg_catalog.unnest(v_words[1:v_end]) w where w ~ '({suffixes})$') then
    return true;
  end if;
  end loop;
  return false;
end;
$$;
"""
    return BEGIN + _indent_mode_loop(body) + END


def _indent_mode_loop(body: str) -> str:
    """Indent the body of the per-reading loop (written flush above to stay readable)."""
    lines = body.split("\n")
    first = lines.index("  foreach v_mode in array v_modes loop") + 1
    last = len(lines) - 1 - lines[::-1].index("  end loop;")
    for index in range(first, last):
        if lines[index]:
            lines[index] = "  " + lines[index]
    return "\n".join(lines)


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
            stale.append(str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path))
            if not args.check:
                path.write_text(updated, encoding="utf-8")
    if args.check and stale:
        print("stale generated sj_is_secret_key in: " + ", ".join(stale))
        print("run: python scripts/gen_sql_secret_rules.py")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
