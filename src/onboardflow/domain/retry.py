"""When to try a failed attempt again: a pure function of the attempt, the policy, the error, the
time and a random source (SPEC §5).

The runtime stores the decision's ``run_at`` on the job instead of sleeping; tests pass a seeded
``random.Random`` instead of patching time.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from onboardflow.errors import AlreadyDoneError, PermanentError, RetryableError

ErrorKind = Literal["retryable", "permanent", "already_done", "interrupted"]


class JobInterrupted(RetryableError):
    """The attempt was cut short: its worker died, lost its lease or shut down."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often and how far apart to retry. Delays are in seconds.

    ``max_retry_after`` caps a delay asked for by the service (``Retry-After``); it is separate from,
    and larger than, ``max_delay`` so that a rate limit is honoured beyond our own back-off cap.
    """

    max_retries: int = 3
    base_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 300.0
    jitter: float = 0.2
    max_retry_after: float = 3600.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must be >= 0")
        if self.factor < 1:
            raise ValueError("factor must be >= 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryDecision:
    """Whether to run again, when, and why. ``delay`` (seconds) is ``None`` when there is no retry."""

    retry: bool
    run_at: datetime | None
    reason: str
    kind: ErrorKind
    delay: float | None = None


def classify(error: BaseException) -> ErrorKind:
    """The kind of a failure: already done, permanent, interrupted, or (anything else) retryable.

    An exception that is not ours counts as retryable (SPEC §5). ``JobInterrupted`` and any
    ``BaseException`` that is not an ``Exception`` (a cancelled task, a stopping process) count as
    interrupted: the attempt was cut short from outside.
    """
    if isinstance(error, AlreadyDoneError):
        return "already_done"
    if isinstance(error, PermanentError):
        return "permanent"
    if isinstance(error, JobInterrupted) or not isinstance(error, Exception):
        return "interrupted"
    return "retryable"


def backoff_delay(*, attempt: int, policy: RetryPolicy, rng: random.Random) -> float:
    """The back-off before the retry that follows failed attempt ``attempt`` (1-based), in seconds:
    ``min(max_delay, base_delay * factor ** (attempt - 1)) * uniform(1 - jitter, 1 + jitter)``."""
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    try:
        raw = policy.base_delay * policy.factor ** (attempt - 1)
    except OverflowError:
        raw = math.inf
    capped = min(policy.max_delay, raw)
    return capped * rng.uniform(1 - policy.jitter, 1 + policy.jitter)


def decide_retry(
    *, attempt: int, policy: RetryPolicy, error: BaseException, now: datetime, rng: random.Random
) -> RetryDecision:
    """Decide what follows failed attempt number ``attempt`` (1-based) that raised ``error``.

    - ``AlreadyDoneError``: not a failure; no retry (kind ``already_done``).
    - ``PermanentError``: never retried.
    - Anything else (``RetryableError``, interruptions, unknown exceptions) is retried while
      ``attempt <= policy.max_retries``, after
      ``delay = min(max_delay, base_delay * factor ** (attempt - 1)) * uniform(1 - jitter, 1 + jitter)``.
    - A ``RetryableError.retry_after`` replaces that delay with
      ``min(max_retry_after, retry_after * uniform(1, 1 + jitter))``: never sooner than the service
      asked (unless above the cap), spread upwards so that rate-limited jobs do not return together.

    ``now`` must be timezone-aware; ``run_at`` is ``now + delay``.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    kind = classify(error)
    detail = str(error) or type(error).__name__
    if kind == "already_done":
        return RetryDecision(retry=False, run_at=None, reason=f"already done: {detail}", kind=kind)
    if kind == "permanent":
        return RetryDecision(retry=False, run_at=None, reason=f"permanent error: {detail}", kind=kind)
    if attempt > policy.max_retries:
        return RetryDecision(
            retry=False,
            run_at=None,
            reason=f"gave up after {attempt} attempts: {detail}",
            kind=kind,
        )
    retry_after = error.retry_after if isinstance(error, RetryableError) else None
    if retry_after is not None:
        delay = min(policy.max_retry_after, max(0.0, retry_after) * rng.uniform(1, 1 + policy.jitter))
        why = f"service asked to retry after {retry_after:g}s"
    else:
        delay = backoff_delay(attempt=attempt, policy=policy, rng=rng)
        why = "interrupted" if kind == "interrupted" else "retryable error"
    return RetryDecision(
        retry=True,
        run_at=now + timedelta(seconds=delay),
        reason=f"{why}; retry {attempt} of {policy.max_retries} in {delay:.1f}s: {detail}",
        kind=kind,
        delay=delay,
    )
