"""Job handlers, registered per job type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from onboardflow.domain.jobs import DEFAULT_QUEUE

if TYPE_CHECKING:
    from onboardflow.runtime.context import JobContext

Handler = Callable[["JobContext"], Awaitable[Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class HandlerSpec:
    """A handler and the defaults of its job type."""

    job_type: str
    handler: Handler
    queue: str = DEFAULT_QUEUE
    timeout_seconds: float | None = None
    max_retries: int = 3
    description: str = ""


class Registry:
    """Which async handler runs which job type."""

    def __init__(self) -> None:
        self._specs: dict[str, HandlerSpec] = {}

    def register(
        self,
        job_type: str,
        *,
        queue: str = DEFAULT_QUEUE,
        timeout_seconds: float | None = None,
        max_retries: int = 3,
        description: str = "",
    ) -> Callable[[Handler], Handler]:
        """Decorator registering ``handler`` for ``job_type`` (once per type)."""

        def add(handler: Handler) -> Handler:
            if job_type in self._specs:
                raise ValueError(f"a handler for {job_type!r} is already registered")
            self._specs[job_type] = HandlerSpec(
                job_type=job_type,
                handler=handler,
                queue=queue,
                timeout_seconds=timeout_seconds,
                max_retries=max_retries,
                description=description or (handler.__doc__ or "").strip().splitlines()[0],
            )
            return handler

        return add

    def get(self, job_type: str) -> HandlerSpec | None:
        """The handler of ``job_type``, if any."""
        return self._specs.get(job_type)

    def job_types(self) -> list[HandlerSpec]:
        """Every registered job type, sorted by name."""
        return [self._specs[k] for k in sorted(self._specs)]

    def merged(self, other: Registry) -> Registry:
        """A registry with the handlers of both (a type registered twice is an error)."""
        combined = Registry()
        for spec in [*self._specs.values(), *other._specs.values()]:
            if spec.job_type in combined._specs:
                raise ValueError(f"a handler for {spec.job_type!r} is already registered")
            combined._specs[spec.job_type] = spec
        return combined
