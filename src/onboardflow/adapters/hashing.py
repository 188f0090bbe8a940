"""Stable hashing for the simulated services: the same inputs give the same answer in every process.

Python's ``hash()`` is salted per process, so the simulations derive everything from SHA-256 instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def digest(*parts: object) -> bytes:
    """The SHA-256 digest of ``parts`` joined by a separator that cannot occur in ``str(part)``."""
    return hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).digest()


def stable_int(*parts: object) -> int:
    """A non-negative 64-bit integer derived from ``parts``."""
    return int.from_bytes(digest(*parts)[:8], "big")


def stable_unit(*parts: object) -> float:
    """A float in ``[0, 1)`` derived from ``parts``."""
    return stable_int(*parts) / 2**64


def stable_hex(*parts: object, length: int = 12) -> str:
    """``length`` lowercase hex digits derived from ``parts``."""
    return digest(*parts).hex()[:length]


def stable_choice(options: Sequence[T], *parts: object) -> T:
    """One of ``options``, chosen by ``parts``."""
    if not options:
        raise ValueError("no options to choose from")
    return options[stable_int(*parts) % len(options)]


def stable_sample(options: Sequence[T], count: int, *parts: object) -> list[T]:
    """``count`` distinct ``options`` (fewer if there are fewer), in their original order."""
    ranked = sorted(range(len(options)), key=lambda index: stable_int(*parts, index))
    return [options[index] for index in sorted(ranked[:count])]
