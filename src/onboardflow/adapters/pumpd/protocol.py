"""The Pumpd interface: one operation per Yolo Mode sub-step (SPEC §3.1).

Every implementation accepts the payloads described by ``pumpd.payloads`` and answers a
``PumpdResult``; it raises ``RetryableError``, ``PermanentError`` (also for an unknown operation) or
``AlreadyDoneError`` (with the existing ids) as ``error_mapping`` describes. The same
``idempotency_key`` for the same operation must replay the first answer without a second effect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from onboardflow.domain.substeps import SUB_STEP_KEYS
from onboardflow.errors import PermanentError

PUMPD_OPERATIONS: Final[tuple[str, ...]] = SUB_STEP_KEYS
"""The operation keys: one per Yolo Mode sub-step."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PumpdResult:
    """What an operation produced: its data, the ids to keep (``pumpd_user_id``,
    ``pumpd_restaurant_id``, ``onboarding_user_id``, ``pumpd_menu_id``) and an optional warning."""

    data: dict[str, Any] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form used on the wire (HTTP body, command stdout)."""
        return {"data": self.data, "ids": self.ids, "warning": self.warning}


class PumpdService(Protocol):
    """Runs Yolo Mode operations against Pumpd."""

    async def run(self, operation: str, payload: Mapping[str, Any], *, idempotency_key: str) -> PumpdResult:
        """Run ``operation`` with ``payload``; replays the first answer for a repeated key."""
        ...


def check_operation(operation: str) -> None:
    """Raise ``PermanentError`` unless ``operation`` is one of ``PUMPD_OPERATIONS``."""
    if operation not in PUMPD_OPERATIONS:
        raise PermanentError(
            f"pumpd: unknown operation {operation!r}",
            details={"operation": operation, "known": PUMPD_OPERATIONS},
        )
