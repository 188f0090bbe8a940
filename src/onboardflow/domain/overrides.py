"""What an operator may change when overriding a failed step (SPEC §5, issue 5): the reason every
override must give, and the edited input a re-run of each step accepts.

- ``extraction``: ``{"source_url": "<http(s) URL>"}`` to extract from instead of the marketplace URL;
- ``company_search``: new search terms (as its answer);
- ``company_details``: ``{"company_number": "..."}`` to fetch instead of the chosen candidate's;
- ``yolo_execution``: a partial configuration merged over the stored one (validated as a whole).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from onboardflow.domain.answers import CompanySearchAnswer, parse_answer
from onboardflow.domain.yolo_config import HttpUrl, invalid_input_from
from onboardflow.errors import InvalidInput

MAX_REASON = 1000
RERUNNABLE_STEPS = ("extraction", "company_search", "company_details", "yolo_execution")


def check_reason(reason: str | None) -> str:
    """The operator's reason, trimmed; ``InvalidInput`` (field ``reason``) when empty or too long."""
    cleaned = " ".join((reason or "").split())
    if not cleaned:
        raise InvalidInput("reason", "say why")
    if len(cleaned) > MAX_REASON:
        raise InvalidInput("reason", f"at most {MAX_REASON} characters")
    return cleaned


class _ExtractionInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_url: HttpUrl | None = None


class _DetailsInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_number: str | None = Field(default=None, min_length=1, max_length=50)


def rerun_input_fields(step_key: str) -> tuple[str, ...]:
    """The fields of a re-run's edited input for ``step_key``, each a plain value (the registration
    step takes a partial configuration instead, so none)."""
    models: dict[str, type[BaseModel]] = {
        "extraction": _ExtractionInput,
        "company_search": CompanySearchAnswer,
        "company_details": _DetailsInput,
    }
    return tuple(models[step_key].model_fields) if step_key in models else ()


def parse_rerun_input(step_key: str, data: Mapping[str, Any] | None) -> dict[str, Any]:
    """The validated edited input of a re-run of ``step_key`` (see the module docstring)."""
    if step_key not in RERUNNABLE_STEPS:
        raise InvalidInput(
            "step_key", f"a {step_key} step cannot be re-run; expected one of {', '.join(RERUNNABLE_STEPS)}"
        )
    if data is not None and not isinstance(data, Mapping):
        raise InvalidInput("input", "expected an object")
    values = dict(data or {})
    if step_key == "company_search":
        if not values:
            raise InvalidInput("input", "give the search terms to use")
        return parse_answer(step_key, values).model_dump(mode="json")
    if step_key == "yolo_execution":
        return values
    model = _ExtractionInput if step_key == "extraction" else _DetailsInput
    try:
        parsed = model.model_validate(values)
    except ValidationError as error:
        invalid = invalid_input_from(error, root="input")
        raise InvalidInput(f"input.{invalid.field}", invalid.errors[0]["message"]) from None
    return parsed.model_dump(exclude_none=True)
