"""Named hand-written SQL: each statement has a ``-- name: x`` header, a one-line description and
one home in a ``*.sql`` file here, loaded once. A block may be a fragment that statements include
as ``{{module.name}}`` (the common CTEs of two statements, written once). A statement whose comment
lines include ``-- plan: generic`` is run on PostgreSQL with the plan made once for its shape
(``generic_plan``)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

_HERE = Path(__file__).parent
_BLOCK = re.compile(
    r"^-- name: (?P<name>\w+)\n-- (?P<doc>[^\n]*)\n(?P<sql>.*?)(?=^-- name: |\Z)", re.S | re.M
)


_GENERIC_PLAN = re.compile(r"^\s*-- plan: generic\s*$", re.M)
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


@cache
def generic_plan(module: str, name: str) -> bool:
    """Whether statement ``name`` of ``<module>.sql`` says ``-- plan: generic``: its plan for any
    values is its plan for its shape. With table statistics, PostgreSQL otherwise plans such a
    statement again at every run whenever it guesses a plan for the values cheaper than the shape's
    (``sub_steps.hand_over_and_begin_postgresql``: 2.5 ms of planning to run 1.4 ms). Such a
    statement must be written so that its generic plan is good: keys and literals in its
    conditions, rows updated by ``id = ANY(ARRAY(...))`` rather than by a join whose size the
    planner cannot know."""
    return bool(_GENERIC_PLAN.search(_blocks(module)[name]))
