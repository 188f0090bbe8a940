"""Which fields are secrets, and how they are shown: never in responses or logs (SPEC §10)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "***"

_SECRET_NAME = re.compile(r"password|secret|api[_-]?key|token", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    """Whether a field called ``name`` holds a secret (it says password, secret, api_key or token)."""
    return bool(_SECRET_NAME.search(name))


def redact(value: Any) -> Any:
    """A copy of ``value`` with every secret field's value replaced by ``"***"``, recursively."""
    if isinstance(value, Mapping):
        return {
            key: (REDACTED if is_secret_name(str(key)) and item not in (None, "") else redact(item))
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value
