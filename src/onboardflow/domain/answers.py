"""What a person answers to the three steps that wait for one (SPEC §3), and how it is checked.

``answer_schema`` is served with a waiting step so that a form (or a script) knows what to send;
``parse_answer`` validates an answer and raises ``InvalidInput`` naming the dotted field.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from functools import cache
from typing import Annotated, Any, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, model_validator

from onboardflow.domain.yolo_config import (
    FieldError,
    YoloConfig,
    invalid_input_from,
    merge_config,
    partial_config_json_schema,
    validate_yolo_config,
)
from onboardflow.errors import InvalidInput

ANSWER_STEP_KEYS: tuple[str, ...] = ("company_search", "company_selection", "yolo_config")

SearchTerm = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]


class CompanySearchAnswer(BaseModel):
    """The terms to search the companies register with; at least one must be non-empty.

    Blank terms are stored as ``None``.
    """

    model_config = ConfigDict(extra="forbid")

    trading_name: SearchTerm | None = None
    legal_name: SearchTerm | None = None
    street_address: SearchTerm | None = None

    @model_validator(mode="after")
    def _check_any(self) -> Self:
        for name in ("trading_name", "legal_name", "street_address"):
            if getattr(self, name) == "":
                setattr(self, name, None)
        if not (self.trading_name or self.legal_name or self.street_address):
            raise FieldError("trading_name", "give at least one of trading_name, legal_name, street_address")
        return self


class CompanySelectionAnswer(BaseModel):
    """The chosen candidate, or ``none_of_these``: exactly one of the two."""

    model_config = ConfigDict(extra="forbid")

    candidate_id: UUID | None = None
    none_of_these: bool = False

    @model_validator(mode="after")
    def _check_exactly_one(self) -> Self:
        if self.candidate_id is not None and self.none_of_these:
            raise FieldError("none_of_these", "choose a candidate or none_of_these, not both")
        if self.candidate_id is None and not self.none_of_these:
            raise FieldError("candidate_id", "choose a candidate, or set none_of_these")
        return self


Answer = CompanySearchAnswer | CompanySelectionAnswer | YoloConfig


def _check_step(step_key: str) -> None:
    if step_key not in ANSWER_STEP_KEYS:
        raise InvalidInput(
            "step_key", f"step {step_key!r} takes no answer; expected one of {', '.join(ANSWER_STEP_KEYS)}"
        )


def answer_schema(step_key: str) -> dict[str, Any]:
    """The JSON schema of the answer to ``step_key``; for ``yolo_config``, a partial configuration
    (merged over the prefilled one before it is validated). Shared between callers: do not change it."""
    _check_step(step_key)
    return _schema(step_key)


@cache  # building a schema costs milliseconds, and every step that waits stores one
def _schema(step_key: str) -> dict[str, Any]:
    if step_key == "company_search":
        return CompanySearchAnswer.model_json_schema()
    if step_key == "company_selection":
        return CompanySelectionAnswer.model_json_schema()
    return partial_config_json_schema()


def parse_answer(
    step_key: str,
    data: Mapping[str, Any],
    *,
    prefilled: Mapping[str, Any] | None = None,
    candidate_ids: Collection[UUID] | None = None,
) -> Answer:
    """Validate the answer ``data`` to ``step_key``.

    For ``yolo_config``, ``data`` is a partial configuration merged over ``prefilled`` (see
    ``merge_config``) and the result must be a complete configuration. For ``company_selection``,
    when ``candidate_ids`` is given the chosen candidate must be one of them.
    """
    _check_step(step_key)
    if step_key == "yolo_config":
        if not isinstance(data, Mapping):
            raise InvalidInput("answer", "expected an object")
        return validate_yolo_config(merge_config(prefilled or {}, data))
    model = CompanySearchAnswer if step_key == "company_search" else CompanySelectionAnswer
    try:
        answer = model.model_validate(data)
    except ValidationError as error:
        raise invalid_input_from(error, root="answer") from None
    if (
        isinstance(answer, CompanySelectionAnswer)
        and candidate_ids is not None
        and answer.candidate_id is not None
        and answer.candidate_id not in candidate_ids
    ):
        raise InvalidInput("candidate_id", "not one of this step's candidates")
    return answer
