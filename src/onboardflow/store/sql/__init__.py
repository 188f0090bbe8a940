"""Named hand-written SQL: each statement has a ``-- name: x`` header, a one-line description and
one home in a ``*.sql`` file here, loaded once. A block may be a fragment that statements include
as ``{{module.name}}`` (the common CTEs of two statements, written once)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

_HERE = Path(__file__).parent
_BLOCK = re.compile(
    r"^-- name: (?P<name>\w+)\n-- (?P<doc>[^\n]*)\n(?P<sql>.*?)(?=^-- name: |\Z)", re.S | re.M
)


_COMMENT_LINE = re.compile(r"^\s*--[^\n]*\n", re.M)
_INCLUDE = re.compile(r"\{\{(\w+)\.(\w+)\}\}")
_INDENT = re.compile(r"\n\s+")


def _compact(sql: str) -> str:
    # Without comment lines and indentation, statements stay short enough for psycopg to cache
    # their conversion (it skips statements over 4 KB), and the server parses less.
    return _INDENT.sub("\n", _COMMENT_LINE.sub("", sql)).strip().rstrip(";")


@cache
def _blocks(module: str) -> dict[str, str]:
    text = (_HERE / f"{module}.sql").read_text()
    found = {m["name"]: m["sql"] for m in _BLOCK.finditer(text)}
    if not found:
        raise RuntimeError(f"no named statements in {module}.sql")
    return found


@cache
def queries(module: str) -> dict[str, str]:
    """The statements of ``<module>.sql`` by name, fragments included (and theirs, in turn)."""
    return {name: _compact(_INCLUDE.sub(_included, sql)) for name, sql in _blocks(module).items()}


def _included(match: re.Match[str]) -> str:
    fragment = _COMMENT_LINE.sub("", _blocks(match[1])[match[2]]).strip().rstrip(";")
    return _INCLUDE.sub(_included, fragment)


def query(module: str, name: str) -> str:
    """One named statement of ``<module>.sql``."""
    return queries(module)[name]
