"""Secrets never reach a log line or a recorded request/response copy (SPEC §3, §10).

``redact`` is the domain's single definition of which fields are secret (names containing password,
secret, api_key or token) re-exported here; ``secret_values`` and ``scrub`` extend it to free text
such as a script's stderr, where secrets appear without their field names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from onboardflow.domain.redaction import REDACTED, is_secret_name, redact

__all__ = ["REDACTED", "is_secret_name", "redact", "scrub", "secret_values"]

_MIN_SECRET_LENGTH = 4
"""Shorter values are not scrubbed from text: replacing every "abc" would mangle the message."""


def secret_values(value: Any) -> frozenset[str]:
    """Every non-empty string held by a secret field anywhere inside ``value``."""
    found: set[str] = set()

    def walk(item: Any) -> None:
        if isinstance(item, Mapping):
            for key, child in item.items():
                if is_secret_name(str(key)) and isinstance(child, str | int) and str(child):
                    found.add(str(child))
                else:
                    walk(child)
        elif isinstance(item, list | tuple):
            for child in item:
                walk(child)

    walk(value)
    return frozenset(found)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret replaced by ``"***"``."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= _MIN_SECRET_LENGTH:
            text = text.replace(secret, REDACTED)
    return text
