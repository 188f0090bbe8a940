"""The store reads every JSON document as ``json.loads`` reads it."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onboardflow.store import json_codec

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN included, and of the same types (an integer read as a float would lose digits)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and a == b


@given(json_values)
def test_any_document_is_read_as_the_standard_library_reads_it(value: Any) -> None:
    for document in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        expected = json.loads(document)
        assert _same(json_codec.loads(document), expected)
        assert _same(json_codec.loads(document.encode("utf-8", "surrogatepass")), expected)


@pytest.mark.parametrize(
    "document",
    [
        '{"big": -451185313639036616704, "max": 18446744073709551616}',
        '{"x": NaN, "y": -Infinity, "z": 1e400}',
        '"\\ud800"',
        '{"id": 12345678901234567890123}',
    ],
)
def test_what_orjson_reads_otherwise_is_read_by_the_standard_library(document: str) -> None:
    assert _same(json_codec.loads(document), json.loads(document))
    assert _same(json_codec.loads(memoryview(document.encode())), json.loads(document))


def test_a_document_that_is_not_json_is_refused() -> None:
    with pytest.raises(ValueError, match="Expecting"):
        json_codec.loads("{not json")
