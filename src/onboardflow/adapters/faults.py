"""Failure injection and latency for the simulated services (SPEC §9).

A ``FaultPlan`` is configuration, parsed once from a JSON-able dict::

    {
        "latency_ms": 100,                 # or [50, 250]: uniform in that range, per call
        "seed": 7,                         # optional; defaults to the simulation's seed
        "hang_ms": 30000,                  # how long a simulated time-out holds an HTTP or command call
        "rules": [
            {"service": "pumpd", "operation": "menu_import", "kind": "server_error", "times": 2},
            {"service": "cdn", "kind": "rate_limited", "rate": 0.1, "retry_after": 5},
        ],
    }

A rule matches a ``service`` and an ``operation`` (``"*"``, the default, matches any) and injects one
``kind``: ``timeout``, ``server_error`` (5xx; ``status``, default 503), ``rate_limited`` (429;
``retry_after`` seconds, default 1), ``already_exists`` or ``validation_error``. ``times: N`` fails the
first N matching calls; ``rate: p`` fails each matching call with probability p. The first rule that
fires wins.

A ``FaultInjector`` is a plan's running state. It is deterministic for a seed: the n-th call to a
(service, operation) gets the same latency and the same fault in every run, however calls to other
operations interleave with it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from onboardflow.adapters.hashing import stable_unit
from onboardflow.errors import (
    AlreadyDoneError,
    InvalidInput,
    JobError,
    PermanentError,
    RetryableError,
)


class FaultKind(StrEnum):
    """What an injected failure looks like to the caller."""

    TIMEOUT = "timeout"
    SERVER_ERROR = "server_error"
    RATE_LIMITED = "rate_limited"
    ALREADY_EXISTS = "already_exists"
    VALIDATION_ERROR = "validation_error"


class SimulatedTimeout(RetryableError):
    """The simulated service did not answer in time."""

    def __init__(
        self, message: str | None = None, *, hang_seconds: float, details: Mapping[str, Any]
    ) -> None:
        self.hang_seconds = hang_seconds
        super().__init__(message, details=details)


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultRule:
    """Inject ``kind`` into calls to ``service``'s ``operation``: the first ``times`` or at ``rate``."""

    service: str = "*"
    operation: str = "*"
    kind: FaultKind
    times: int | None = None
    rate: float | None = None
    retry_after: float = 1.0
    status: int = 503

    def matches(self, service: str, operation: str) -> bool:
        """Whether this rule applies to a call of ``service``'s ``operation``."""
        return self.service in ("*", service) and self.operation in ("*", operation)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form that ``FaultPlan.from_dict`` reads back."""
        data: dict[str, Any] = {"service": self.service, "operation": self.operation, "kind": str(self.kind)}
        if self.times is not None:
            data["times"] = self.times
        if self.rate is not None:
            data["rate"] = self.rate
        if self.kind is FaultKind.RATE_LIMITED:
            data["retry_after"] = self.retry_after
        if self.kind is FaultKind.SERVER_ERROR:
            data["status"] = self.status
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultPlan:
    """Latency and failure rules for every simulated service. The default plan injects nothing."""

    latency_ms: tuple[float, float] = (0.0, 0.0)
    rules: tuple[FaultRule, ...] = ()
    seed: int | None = None
    hang_ms: float = 30_000.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> FaultPlan:
        """Parse a plan; a bad value raises ``InvalidInput`` naming the field (``faults.rules[0].kind``)."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise InvalidInput("faults", "must be an object")
        unknown = set(data) - {"latency_ms", "rules", "seed", "hang_ms"}
        if unknown:
            raise InvalidInput(f"faults.{sorted(unknown)[0]}", "unknown field")
        rules = data.get("rules", [])
        if not isinstance(rules, list | tuple):
            raise InvalidInput("faults.rules", "must be a list")
        seed = data.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise InvalidInput("faults.seed", "must be an integer")
        return cls(
            latency_ms=_parse_latency(data.get("latency_ms", 0)),
            rules=tuple(_parse_rule(rule, f"faults.rules[{index}]") for index, rule in enumerate(rules)),
            seed=seed,
            hang_ms=_number(data.get("hang_ms", 30_000.0), "faults.hang_ms", minimum=0),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form that ``from_dict`` reads back."""
        low, high = self.latency_ms
        data: dict[str, Any] = {
            "latency_ms": low if low == high else [low, high],
            "rules": [rule.to_dict() for rule in self.rules],
            "hang_ms": self.hang_ms,
        }
        if self.seed is not None:
            data["seed"] = self.seed
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    """A failure the injector decided on for one call."""

    kind: FaultKind
    rule: FaultRule
    hang_seconds: float

    def error(self, *, service: str, operation: str, existing: Mapping[str, Any] | None = None) -> JobError:
        """The typed error the simulated service raises for this fault."""
        where = f"{service} {operation}"
        details = {"service": service, "operation": operation, "fault": str(self.kind)}
        match self.kind:
            case FaultKind.TIMEOUT:
                return SimulatedTimeout(
                    f"{where}: timed out (simulated)", hang_seconds=self.hang_seconds, details=details
                )
            case FaultKind.SERVER_ERROR:
                return RetryableError(
                    f"{where}: HTTP {self.rule.status} (simulated)",
                    details={**details, "status": self.rule.status},
                )
            case FaultKind.RATE_LIMITED:
                return RetryableError(
                    f"{where}: rate limited (simulated)",
                    retry_after=self.rule.retry_after,
                    details={**details, "status": 429},
                )
            case FaultKind.ALREADY_EXISTS:
                return AlreadyDoneError(
                    f"{where}: already exists (simulated)", existing=existing or {}, details=details
                )
            case FaultKind.VALIDATION_ERROR:
                return PermanentError(f"{where}: invalid input (simulated)", details=details)


@dataclass(slots=True)
class FaultInjector:
    """The running state of a ``FaultPlan``: call counters per (service, operation) and per rule."""

    plan: FaultPlan
    seed: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    rule_hits: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.plan.seed is not None:
            self.seed = self.plan.seed
        if len(self.rule_hits) != len(self.plan.rules):
            self.rule_hits = [0] * len(self.plan.rules)

    def next_call(self, service: str, operation: str) -> tuple[float, Fault | None]:
        """Count one call and decide its latency (seconds) and its fault, if any."""
        key = f"{service}/{operation}"
        index = self.calls.get(key, 0)
        self.calls[key] = index + 1
        low, high = self.plan.latency_ms
        latency = (low + (high - low) * stable_unit(self.seed, "latency", key, index)) / 1000
        fault: Fault | None = None
        for number, rule in enumerate(self.plan.rules):
            if not rule.matches(service, operation):
                continue
            hit = self.rule_hits[number]
            self.rule_hits[number] = hit + 1
            if fault is not None:
                continue
            fires = (
                hit < rule.times
                if rule.times is not None
                else stable_unit(self.seed, "fault", number, key, index) < (rule.rate or 0.0)
            )
            if fires:
                fault = Fault(kind=rule.kind, rule=rule, hang_seconds=self.plan.hang_ms / 1000)
        return latency, fault

    def reset(self) -> None:
        """Forget every call: the plan starts over."""
        self.calls.clear()
        self.rule_hits = [0] * len(self.plan.rules)

    def snapshot(self) -> dict[str, Any]:
        """The counters as JSON-able data (for simulations that live across processes)."""
        return {"calls": dict(self.calls), "rule_hits": list(self.rule_hits)}

    def restore(self, data: Mapping[str, Any]) -> None:
        """Continue from counters saved by ``snapshot``."""
        self.calls = {str(key): int(value) for key, value in data.get("calls", {}).items()}
        hits = [int(value) for value in data.get("rule_hits", [])]
        self.rule_hits = hits if len(hits) == len(self.plan.rules) else [0] * len(self.plan.rules)


def _parse_latency(value: Any) -> tuple[float, float]:
    if isinstance(value, Mapping):
        value = [value.get("min", 0), value.get("max", value.get("min", 0))]
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise InvalidInput("faults.latency_ms", "must be a number or [min, max]")
        low = _number(value[0], "faults.latency_ms", minimum=0)
        high = _number(value[1], "faults.latency_ms", minimum=0)
        if high < low:
            raise InvalidInput("faults.latency_ms", "max must not be below min")
        return low, high
    fixed = _number(value, "faults.latency_ms", minimum=0)
    return fixed, fixed


def _parse_rule(data: Any, where: str) -> FaultRule:
    if not isinstance(data, Mapping):
        raise InvalidInput(where, "must be an object")
    unknown = set(data) - {"service", "operation", "kind", "times", "rate", "retry_after", "status"}
    if unknown:
        raise InvalidInput(f"{where}.{sorted(unknown)[0]}", "unknown field")
    try:
        kind = FaultKind(str(data.get("kind")))
    except ValueError:
        choices = ", ".join(kind.value for kind in FaultKind)
        raise InvalidInput(f"{where}.kind", f"must be one of {choices}") from None
    times, rate = data.get("times"), data.get("rate")
    if (times is None) == (rate is None):
        raise InvalidInput(where, "give exactly one of times or rate")
    if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 0):
        raise InvalidInput(f"{where}.times", "must be a non-negative integer")
    if rate is not None:
        rate = _number(rate, f"{where}.rate", minimum=0)
        if rate > 1:
            raise InvalidInput(f"{where}.rate", "must be between 0 and 1")
    status = data.get("status", 503)
    if not isinstance(status, int) or not 500 <= status <= 599:
        raise InvalidInput(f"{where}.status", "must be a 5xx status")
    for name in ("service", "operation"):
        if not isinstance(data.get(name, "*"), str) or not data.get(name, "*"):
            raise InvalidInput(f"{where}.{name}", "must be a non-empty string")
    return FaultRule(
        service=data.get("service", "*"),
        operation=data.get("operation", "*"),
        kind=kind,
        times=times,
        rate=rate,
        retry_after=_number(data.get("retry_after", 1.0), f"{where}.retry_after", minimum=0),
        status=status,
    )


def _number(value: Any, where: str, *, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) or value < minimum:
        raise InvalidInput(where, f"must be a number >= {minimum:g}")
    return float(value)
