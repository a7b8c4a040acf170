"""Docstrings are Markdown: the API reference (mkdocstrings) shows them as they are written, so
reStructuredText markup there (``::`` literal blocks, ``:func:`` roles, definition lists, directives)
would reach readers as raw markers."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SOURCES = sorted(
    path
    for base in [ROOT / "core" / "src", *(p / "src" for p in (ROOT / "plugins").iterdir())]
    for path in base.rglob("*.py")
)

RST = [
    (re.compile(r"\S::[ \t]*$", re.M), "a '::' literal-block marker (end the line with ':' and fence the block)"),
    (re.compile(r":(?:py:)?(?:func|meth|class|attr|data|mod|exc|obj|ref):`"), "a Sphinx role (write ``name``)"),
    (re.compile(r"^\s*\.\. [\w-]+::", re.M), "a reStructuredText directive"),
    (re.compile(r"^( *)``[^\n]*\n\1    \S", re.M), "a definition list (write '- ``TERM``: text')"),
]


def docstrings(path: Path) -> list[tuple[int, str]]:
    """Every docstring of ``path`` and its ``#:`` attribute comments, with their line numbers."""
    source = path.read_text()
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            first = body[0] if body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                found.append((first.lineno, inspect.cleandoc(first.value.value)))
    comments = [
        (n, line.strip()[3:]) for n, line in enumerate(source.splitlines(), 1) if line.strip().startswith("#: ")
    ]
    return found + comments


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_docstrings_use_markdown_not_restructuredtext(path: Path) -> None:
    problems = [
        f"{path.relative_to(ROOT)}:{line}: {why}: {match.group(0).strip()!r}"
        for line, text in docstrings(path)
        for pattern, why in RST
        for match in pattern.finditer(text)
    ]
    assert not problems, "\n".join(problems)
