"""The error tree drawn in README.md and in ``_errors``' docstring is the class hierarchy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import supabase_jobs
from supabase_jobs import _errors
from supabase_jobs._errors import JobsError

README = Path(__file__).resolve().parents[2] / "README.md"
_LINE = re.compile(r"^(?P<prefix>[ │├└─]*)(?P<name>[A-Z][A-Za-z]*Error)\b")


def parse_tree(text: str) -> dict[str, str | None]:
    """``{class name: parent name}`` from an ASCII tree (5 columns per level)."""
    lines = [line for line in text.splitlines() if line.strip()]
    indent = len(lines[0]) - len(lines[0].lstrip())
    parents: dict[str, str | None] = {}
    path: list[str] = []
    for line in lines:
        match = _LINE.match(line[indent:])
        assert match, f"not a tree line: {line!r}"
        depth = len(match["prefix"]) // 5
        assert len(match["prefix"]) % 5 == 0 and depth <= len(path), f"misaligned: {line!r}"
        del path[depth:]
        name = match["name"]
        assert name not in parents, f"{name} drawn twice"
        parents[name] = path[-1] if path else None
        path.append(name)
    return parents


def code_tree() -> dict[str, str | None]:
    """``{class name: parent name}`` of every exception ``_errors`` exports."""
    tree: dict[str, str | None] = {}
    for name in _errors.__all__:
        cls = getattr(_errors, name)
        bases = [b for b in cls.__bases__ if issubclass(b, JobsError)]
        assert len(bases) <= 1, f"{name} has two JobsError bases"
        tree[name] = bases[0].__name__ if bases else None
    return tree


def readme_tree_text() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 1, "the Errors section should hold one tree"
    return str(blocks[0])


def docstring_tree_text() -> str:
    doc = _errors.__doc__ or ""
    block = doc.split("::\n\n", 1)[1].split("\n\n", 1)[0]
    return block


@pytest.mark.parametrize("source", [readme_tree_text, docstring_tree_text])
def test_the_drawn_tree_is_the_class_hierarchy(source: object) -> None:
    assert callable(source)
    assert parse_tree(source()) == code_tree()


def test_every_error_is_exported_from_the_package() -> None:
    assert set(_errors.__all__) <= set(supabase_jobs.__all__)


def test_a_misdrawn_tree_is_caught() -> None:
    drawn = parse_tree(readme_tree_text())
    wrong = readme_tree_text().replace(
        " │    ├── ConstraintViolationError", " ├── ConstraintViolationError"
    )
    assert parse_tree(wrong) != drawn
