"""The retry policy as a pure function (SPEC §5)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onboardflow.domain.retry import (
    JobInterrupted,
    RetryPolicy,
    backoff_delay,
    classify,
    decide_retry,
)
from onboardflow.errors import AlreadyDoneError, PermanentError, RetryableError

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy()


def test_default_policy_matches_the_spec() -> None:
    assert (POLICY.max_retries, POLICY.base_delay, POLICY.factor, POLICY.max_delay, POLICY.jitter) == (
        3,
        1.0,
        2.0,
        300.0,
        0.2,
    )


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (RetryableError("timeout"), "retryable"),
        (ConnectionResetError("reset"), "retryable"),
        (ValueError("surprise"), "retryable"),
        (PermanentError("bad credentials"), "permanent"),
        (AlreadyDoneError("account exists"), "already_done"),
        (JobInterrupted("lease expired"), "interrupted"),
        (asyncio.CancelledError(), "interrupted"),
        (KeyboardInterrupt(), "interrupted"),
    ],
)
def test_classify_sorts_errors_into_the_spec_kinds(error: BaseException, kind: str) -> None:
    assert classify(error) == kind


def test_retryable_error_is_retried_with_run_at_after_the_delay() -> None:
    decision = decide_retry(
        attempt=1, policy=POLICY, error=RetryableError("timeout"), now=NOW, rng=random.Random(1)
    )
    assert decision.retry
    assert decision.kind == "retryable"
    assert decision.delay is not None
    assert decision.run_at == NOW + timedelta(seconds=decision.delay)
    assert "timeout" in decision.reason


def test_unknown_exception_is_retried() -> None:
    decision = decide_retry(attempt=1, policy=POLICY, error=KeyError("x"), now=NOW, rng=random.Random(1))
    assert decision.retry
    assert decision.kind == "retryable"


def test_permanent_error_is_never_retried() -> None:
    for attempt in (1, 2, 3):
        decision = decide_retry(
            attempt=attempt, policy=POLICY, error=PermanentError("HTTP 400"), now=NOW, rng=random.Random(1)
        )
        assert not decision.retry
        assert decision.run_at is None
        assert decision.kind == "permanent"


def test_already_done_is_not_a_failure_and_not_retried() -> None:
    decision = decide_retry(
        attempt=1, policy=POLICY, error=AlreadyDoneError("exists"), now=NOW, rng=random.Random(1)
    )
    assert (decision.retry, decision.kind, decision.run_at) == (False, "already_done", None)


def test_retries_stop_after_max_retries() -> None:
    outcomes = [
        decide_retry(
            attempt=attempt, policy=POLICY, error=RetryableError("5xx"), now=NOW, rng=random.Random(1)
        ).retry
        for attempt in range(1, 6)
    ]
    assert outcomes == [True, True, True, False, False]
    gave_up = decide_retry(
        attempt=4, policy=POLICY, error=RetryableError("5xx"), now=NOW, rng=random.Random(1)
    )
    assert gave_up.run_at is None
    assert "gave up after 4 attempts" in gave_up.reason


def test_zero_max_retries_never_retries() -> None:
    decision = decide_retry(
        attempt=1, policy=RetryPolicy(max_retries=0), error=RetryableError(), now=NOW, rng=random.Random(1)
    )
    assert not decision.retry


def test_interruption_counts_as_an_attempt_and_is_retried_while_attempts_remain() -> None:
    first = decide_retry(attempt=1, policy=POLICY, error=JobInterrupted(), now=NOW, rng=random.Random(1))
    last = decide_retry(attempt=4, policy=POLICY, error=JobInterrupted(), now=NOW, rng=random.Random(1))
    assert (first.retry, first.kind) == (True, "interrupted")
    assert (last.retry, last.kind) == (False, "interrupted")


@given(attempt=st.integers(min_value=1, max_value=10_000), seed=st.integers(min_value=0, max_value=2**32))
def test_backoff_stays_within_jittered_bounds_of_the_capped_exponential(attempt: int, seed: int) -> None:
    delay = backoff_delay(attempt=attempt, policy=POLICY, rng=random.Random(seed))
    raw = min(POLICY.max_delay, POLICY.base_delay * POLICY.factor ** min(attempt - 1, 64))
    assert raw * (1 - POLICY.jitter) <= delay <= raw * (1 + POLICY.jitter)


def test_backoff_without_jitter_doubles_until_the_cap() -> None:
    policy = RetryPolicy(jitter=0.0, max_delay=20.0)
    delays = [backoff_delay(attempt=attempt, policy=policy, rng=random.Random(0)) for attempt in range(1, 8)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 20.0, 20.0]


@given(seed=st.integers(min_value=0, max_value=2**32))
def test_jittered_backoff_grows_from_attempt_to_attempt_before_the_cap(seed: int) -> None:
    rng = random.Random(seed)
    # Factor 2, jitter 0.2: the next attempt's lowest delay (0.8 * 2x) beats this one's highest (1.2x).
    delays = [backoff_delay(attempt=attempt, policy=POLICY, rng=rng) for attempt in range(1, 9)]
    assert delays == sorted(delays)
    assert len(set(delays)) == len(delays)


def test_same_seed_gives_the_same_decision() -> None:
    one = decide_retry(attempt=2, policy=POLICY, error=RetryableError(), now=NOW, rng=random.Random(42))
    two = decide_retry(attempt=2, policy=POLICY, error=RetryableError(), now=NOW, rng=random.Random(42))
    assert one == two


def test_jitter_spreads_delays_across_seeds() -> None:
    delays = {backoff_delay(attempt=3, policy=POLICY, rng=random.Random(seed)) for seed in range(20)}
    assert len(delays) == 20


@given(
    retry_after=st.floats(min_value=0, max_value=3000),
    attempt=st.integers(min_value=1, max_value=3),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_retry_after_is_honoured_never_sooner_than_asked(retry_after: float, attempt: int, seed: int) -> None:
    decision = decide_retry(
        attempt=attempt,
        policy=POLICY,
        error=RetryableError("429", retry_after=retry_after),
        now=NOW,
        rng=random.Random(seed),
    )
    assert decision.retry
    assert decision.delay is not None
    assert retry_after <= decision.delay <= retry_after * (1 + POLICY.jitter)
    assert decision.run_at is not None
    assert decision.run_at >= NOW + timedelta(seconds=retry_after)


def test_retry_after_beyond_our_back_off_cap_is_still_honoured() -> None:
    decision = decide_retry(
        attempt=1, policy=POLICY, error=RetryableError(retry_after=900), now=NOW, rng=random.Random(3)
    )
    assert decision.delay is not None
    assert decision.delay >= 900 > POLICY.max_delay


def test_retry_after_is_capped_by_max_retry_after() -> None:
    policy = RetryPolicy(max_retry_after=600.0)
    decision = decide_retry(
        attempt=1, policy=policy, error=RetryableError(retry_after=86_400), now=NOW, rng=random.Random(3)
    )
    assert decision.delay == 600.0


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide_retry(
            attempt=1, policy=POLICY, error=RetryableError(), now=datetime(2024, 5, 1), rng=random.Random(1)
        )


def test_attempt_is_one_based() -> None:
    with pytest.raises(ValueError, match="1-based"):
        decide_retry(attempt=0, policy=POLICY, error=RetryableError(), now=NOW, rng=random.Random(1))


@pytest.mark.parametrize(
    "settings",
    [{"max_retries": -1}, {"base_delay": -1.0}, {"factor": 0.5}, {"jitter": 1.0}, {"jitter": -0.1}],
)
def test_nonsensical_policy_is_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**settings)  # type: ignore[arg-type]
