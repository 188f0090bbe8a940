"""Named hand-written SQL: each statement has a ``-- name: x`` header, a one-line description and
one home in a ``*.sql`` file here, loaded once."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

_HERE = Path(__file__).parent
_BLOCK = re.compile(
    r"^-- name: (?P<name>\w+)\n-- (?P<doc>[^\n]*)\n(?P<sql>.*?)(?=^-- name: |\Z)", re.S | re.M
)


@cache
def queries(module: str) -> dict[str, str]:
    """The statements of ``<module>.sql`` by name."""
    text = (_HERE / f"{module}.sql").read_text()
    found = {m["name"]: m["sql"].strip().rstrip(";") for m in _BLOCK.finditer(text)}
    if not found:
        raise RuntimeError(f"no named statements in {module}.sql")
    return found


def query(module: str, name: str) -> str:
    """One named statement of ``<module>.sql``."""
    return queries(module)[name]
