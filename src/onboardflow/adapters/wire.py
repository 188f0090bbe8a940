"""Records to JSON and back, for the http and command implementations and the sandbox.

Records are frozen dataclasses; pydantic's ``TypeAdapter`` validates and dumps them (``Decimal`` as a
string, dates as ISO strings). A body that does not fit raises ``pydantic.ValidationError``, which the
error mapping makes a ``PermanentError``.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import TypeAdapter

T = TypeVar("T")


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(kind: Any) -> TypeAdapter[Any]:
    found = _ADAPTERS.get(kind)
    if found is None:
        found = _ADAPTERS[kind] = TypeAdapter(kind)
    return found


def dump(value: Any, kind: Any = None) -> Any:
    """``value`` (a record, or a list of records of ``kind``) as JSON-able data."""
    return _adapter(kind if kind is not None else type(value)).dump_python(value, mode="json")


def load(kind: type[T], data: Any) -> T:
    """A ``kind`` record validated from JSON-able ``data``."""
    result: T = _adapter(kind).validate_python(data)
    return result


def load_list(kind: type[T], data: Any) -> list[T]:
    """A list of ``kind`` records validated from JSON-able ``data``."""
    result: list[T] = _adapter(list[kind]).validate_python(data)  # type: ignore[valid-type]
    return result
