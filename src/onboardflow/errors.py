"""The error tree shared by every layer.

Each class's docstring is its default message. Front doors map these classes to
responses in exactly one place each (API: ``api/errors.py``; CLI: ``cli/main.py``).

    OnboardflowError
    ├── NotFound                 a row that does not exist or belongs to another organisation
    ├── InvalidInput             bad input, naming the field (422)
    ├── Conflict                 the request collides with the current state (409)
    ├── InvalidTransition        a status change the transition table forbids (409)
    ├── Unauthenticated          no or bad credentials (401)
    ├── Forbidden                authenticated, but the role does not allow it (403)
    ├── StoreUnavailable         the database cannot be reached (503)
    └── JobError                 raised by adapters and job handlers; tells the runtime what to do
        ├── RetryableError       try again later (time-out, reset, 5xx, rate limited)
        ├── PermanentError       retrying cannot help (4xx, validation, bad credentials)
        └── AlreadyDoneError     the effect already exists; complete with a warning
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class OnboardflowError(Exception):
    """Something went wrong in onboardflow."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__doc__ or type(self).__name__).strip().splitlines()[0]
        super().__init__(self.message)


class NotFound(OnboardflowError):
    """Not found."""

    def __init__(self, entity: str = "resource", message: str | None = None) -> None:
        self.entity = entity
        super().__init__(message or f"{entity} not found")


class InvalidInput(OnboardflowError):
    """The input is not valid."""

    def __init__(self, field: str, message: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        self.field = field
        self.errors = errors or [{"field": field, "message": message}]
        super().__init__(f"{field}: {message}" if field else message)


class Conflict(OnboardflowError):
    """The request conflicts with the current state."""

    def __init__(
        self,
        message: str | None = None,
        *,
        constraint: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.constraint = constraint
        self.details = dict(details or {})
        super().__init__(message)


class InvalidTransition(Conflict):
    """That status change is not allowed."""

    def __init__(self, family: str, current: str, target: str) -> None:
        self.family = family
        self.current = current
        self.target = target
        super().__init__(f"{family} cannot go from {current!r} to {target!r}")


class Unauthenticated(OnboardflowError):
    """Authentication required."""


class Forbidden(OnboardflowError):
    """You are not allowed to do this."""


class StoreUnavailable(OnboardflowError):
    """The database is unavailable."""


class JobError(OnboardflowError):
    """A job handler or adapter failed."""

    def __init__(self, message: str | None = None, *, details: Mapping[str, Any] | None = None) -> None:
        self.details = dict(details or {})
        super().__init__(message)


class RetryableError(JobError):
    """A transient failure: the work may succeed if tried again later."""

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, details=details)


class PermanentError(JobError):
    """A failure that retrying cannot fix."""


class AlreadyDoneError(JobError):
    """The effect already exists; the work counts as done, with a warning."""

    def __init__(
        self,
        message: str | None = None,
        *,
        existing: Mapping[str, Any] | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.existing = dict(existing or {})
        super().__init__(message, details=details)
