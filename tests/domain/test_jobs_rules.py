"""Rules of the job queue that need no database: fair shares of limited queues, manual retries,
interrupted attempts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onboardflow.domain.jobs import check_manual_retry, fair_share, interrupted_outcome, queue_room
from onboardflow.errors import InvalidTransition


def test_two_equal_workers_split_a_limit_of_twenty_ten_and_ten() -> None:
    assert fair_share(limit=20, concurrency=30, cluster_concurrency=60) == 10


def test_a_worker_alone_may_take_the_whole_limit() -> None:
    assert fair_share(limit=20, concurrency=30, cluster_concurrency=30) == 20
    assert fair_share(limit=20, concurrency=30, cluster_concurrency=0) == 20


def test_shares_follow_concurrency_and_every_worker_gets_at_least_one() -> None:
    assert fair_share(limit=20, concurrency=30, cluster_concurrency=32) == 19
    assert fair_share(limit=20, concurrency=2, cluster_concurrency=32) == 2
    assert fair_share(limit=3, concurrency=1, cluster_concurrency=100) == 1


@given(
    limit=st.integers(1, 200),
    concurrencies=st.lists(st.integers(1, 100), min_size=1, max_size=12),
)
def test_the_shares_of_the_live_workers_always_cover_the_limit(limit: int, concurrencies: list[int]) -> None:
    total = sum(concurrencies)
    shares = [fair_share(limit=limit, concurrency=c, cluster_concurrency=total) for c in concurrencies]
    assert sum(shares) >= limit
    assert all(1 <= s <= limit for s in shares)


def test_only_failed_or_cancelled_jobs_may_be_retried_by_hand() -> None:
    check_manual_retry("failed")
    check_manual_retry("cancelled")
    with pytest.raises(InvalidTransition):
        check_manual_retry("in_progress")


def test_an_interrupted_job_is_queued_again_until_its_retries_are_spent() -> None:
    assert interrupted_outcome(attempts=1, max_retries=3) == "queued"
    assert interrupted_outcome(attempts=4, max_retries=3) == "failed"


def test_queue_room_is_the_free_capacity_at_most_what_is_left_of_the_share() -> None:
    assert queue_room(limit=20, running=5, share=10, mine=2) == 8
    assert queue_room(limit=20, running=18, share=10, mine=2) == 2
    assert queue_room(limit=5, running=7, share=3, mine=0) == 0, "a lowered limit leaves no room"
    assert queue_room(limit=20, running=10, share=3, mine=4) == 0
