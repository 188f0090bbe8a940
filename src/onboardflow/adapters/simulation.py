"""What every simulated service shares: the seed, the fault injector, the clock and the call log.

``Simulation.call`` wraps one call to a simulated service: it waits the injected latency, raises the
injected fault (before any effect, as a network failure would), runs the effect and records the
outcome. Effects are synchronous functions, so a call's effect is atomic on the event loop.

Call outcomes in the log: ``ok``, ``replayed`` (an idempotency key seen before: the stored answer,
no second effect), ``already_done``, ``permanent``, ``retryable``, ``fault:<kind>`` (injected) and
``cancelled`` (the caller's task was cancelled during the injected latency) and ``error`` (a bug in
the simulation).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from onboardflow.adapters.error_mapping import kind_of
from onboardflow.adapters.faults import FaultInjector, FaultPlan
from onboardflow.errors import JobError

T = TypeVar("T")
Effect = Literal["ok", "replayed"]

CALL_LOG_LIMIT = 10_000
"""How many calls the call log keeps, the latest: a worker on the simulated services runs for days,
and a batch of 1,000 restaurants makes some 16,000 calls."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRecord:
    """One call to a simulated service, as the call log keeps it (no payloads, so no secrets)."""

    service: str
    operation: str
    idempotency_key: str | None
    outcome: str
    at: datetime
    duration_ms: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form served by the sandbox's ``GET /_calls``."""
        return {
            "service": self.service,
            "operation": self.operation,
            "idempotency_key": self.idempotency_key,
            "outcome": self.outcome,
            "at": self.at.isoformat(),
            "duration_ms": self.duration_ms,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CallRecord:
        """Read back ``to_dict``'s output."""
        return cls(
            service=data["service"],
            operation=data["operation"],
            idempotency_key=data.get("idempotency_key"),
            outcome=data["outcome"],
            at=datetime.fromisoformat(data["at"]),
            duration_ms=float(data.get("duration_ms", 0.0)),
            error=data.get("error"),
        )


class Simulation:
    """Shared state of the simulated services of one process (or one sandbox)."""

    def __init__(
        self,
        *,
        seed: int = 0,
        faults: FaultPlan | None = None,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        call_log_limit: int = CALL_LOG_LIMIT,
    ) -> None:
        self.seed = seed
        self.injector = FaultInjector(faults or FaultPlan(), seed=seed)
        self.calls: deque[CallRecord] = deque(maxlen=call_log_limit)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._sleep = sleep

    @property
    def faults(self) -> FaultPlan:
        """The fault plan in force."""
        return self.injector.plan

    def now(self) -> datetime:
        """The simulation's current time (timezone-aware)."""
        return self._clock()

    def set_faults(self, plan: FaultPlan) -> None:
        """Replace the fault plan; its counters start from zero."""
        self.injector = FaultInjector(plan, seed=self.seed)

    def reset(self) -> None:
        """Forget the call log and the fault counters (services reset their own state)."""
        self.calls.clear()
        self.injector.reset()

    def calls_to(self, service: str | None = None, operation: str | None = None) -> list[CallRecord]:
        """The logged calls, optionally only those to one service and operation."""
        return [
            call
            for call in self.calls
            if (service is None or call.service == service)
            and (operation is None or call.operation == operation)
        ]

    async def call(
        self,
        service: str,
        operation: str,
        idempotency_key: str | None,
        effect: Callable[[], tuple[T, Effect]],
        *,
        existing: Callable[[], Mapping[str, Any]] | None = None,
    ) -> T:
        """Run one simulated call: latency, injected fault, then ``effect``; log the outcome.

        ``effect`` returns its result and whether it was a replay; ``existing`` supplies the ids an
        injected ``already_exists`` fault reports.
        """
        started = time.monotonic()
        at = self.now()
        latency, fault = self.injector.next_call(service, operation)
        outcome = "error"
        error_text: str | None = None
        try:
            if latency > 0:
                await self._sleep(latency)
            if fault is not None:
                outcome = f"fault:{fault.kind}"
                ids = dict(existing()) if existing is not None else {}
                raise fault.error(service=service, operation=operation, existing=ids)
            result, outcome = effect()
            return result
        except JobError as exc:
            if fault is None:
                outcome = kind_of(exc)
            error_text = exc.message
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            self.calls.append(
                CallRecord(
                    service=service,
                    operation=operation,
                    idempotency_key=idempotency_key,
                    outcome=outcome,
                    at=at,
                    duration_ms=round((time.monotonic() - started) * 1000, 3),
                    error=error_text,
                )
            )

    def snapshot(self) -> dict[str, Any]:
        """The call log and fault counters as JSON-able data."""
        return {"faults": self.injector.snapshot(), "calls": [call.to_dict() for call in self.calls]}

    def restore(self, data: Mapping[str, Any]) -> None:
        """Continue from a ``snapshot``."""
        self.injector.restore(data.get("faults", {}))
        self.calls = deque(
            (CallRecord.from_dict(call) for call in data.get("calls", [])), maxlen=self.calls.maxlen
        )
