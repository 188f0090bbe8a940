"""JSON documents as the store reads them: with orjson where it reads exactly what ``json.loads`` reads.

The workers read a JSON document at almost every statement (payloads, results, menus, the run's
results so far), and the standard library's decoder was about a fortieth of a worker's time; orjson
reads the same documents several times faster. Where the two differ, the standard library reads:
a document orjson refuses (``NaN``, ``Infinity``, a lone surrogate) and any document with a run of 19
digits or more, which could be an integer beyond 64 bits (orjson would make it a float, losing
digits). Writing stays with the standard library: orjson writes ``NaN`` as ``null``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_LONG_DIGITS = re.compile(rb"\d{19}")
_LONG_DIGITS_TEXT = re.compile(r"\d{19}")


def loads(document: str | bytes | bytearray | memoryview) -> Any:
    """The value of a JSON document, as ``json.loads`` reads it."""
    if isinstance(document, memoryview):
        document = bytes(document)
    long_digits = _LONG_DIGITS_TEXT if isinstance(document, str) else _LONG_DIGITS
    if long_digits.search(document) is None:  # type: ignore[arg-type]
        try:
            return orjson.loads(document)
        except orjson.JSONDecodeError:
            pass
    return json.loads(document)
