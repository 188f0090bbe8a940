"""Rules of the job queue that need no database: fair shares of limited queues, the hand-over of a
slot and the jobs that wait for one, manual retries, interrupted attempts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onboardflow.domain.jobs import (
    check_manual_retry,
    fair_share,
    holds_a_slot,
    interrupted_outcome,
    queue_room,
    slot_hand_over,
)
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


def test_a_job_waiting_for_the_slot_of_a_running_job_holds_no_slot_until_that_job_is_gone() -> None:
    assert holds_a_slot(in_progress=True, waits_for_a_running_job=False)
    assert not holds_a_slot(in_progress=True, waits_for_a_running_job=True)
    assert not holds_a_slot(in_progress=False, waits_for_a_running_job=False)


def test_a_free_slot_goes_to_the_next_job_and_one_more_waits_for_it_when_the_queue_is_full() -> None:
    # Limit 20, 19 others hold a slot: the next job runs in the freed one, the queue is full again,
    # so the job after it is claimed to wait for that slot.
    plan = slot_hand_over(limit=20, holding=19, mine=9, share=10, successor=False)
    assert (plan.run, plan.wait) == (1, 1)
    # The job that waited for the slot takes it: nothing more runs, one more waits behind it.
    plan = slot_hand_over(limit=20, holding=20, mine=10, share=10, successor=True)
    assert (plan.run, plan.wait) == (0, 1)


def test_nothing_waits_for_a_slot_while_the_queue_has_room() -> None:
    plan = slot_hand_over(limit=20, holding=5, mine=2, share=10, successor=False)
    assert (plan.run, plan.wait) == (1, 0)
    plan = slot_hand_over(limit=20, holding=5, mine=2, share=10, successor=True)
    assert (plan.run, plan.wait) == (0, 0)


def test_a_worker_at_its_share_or_a_lowered_limit_hands_over_nothing() -> None:
    plan = slot_hand_over(limit=20, holding=15, mine=10, share=10, successor=False)
    assert (plan.run, plan.wait) == (0, 0), "the slot is left for another worker"
    plan = slot_hand_over(limit=2, holding=3, mine=1, share=10, successor=False)
    assert (plan.run, plan.wait) == (0, 0), "over a lowered limit, the slot is given up"


@given(
    limit=st.integers(1, 50),
    holding=st.integers(0, 60),
    mine=st.integers(0, 60),
    share=st.integers(1, 50),
    successor=st.booleans(),
)
def test_a_hand_over_never_takes_the_queue_over_its_limit_and_one_job_at_most_waits(
    limit: int, holding: int, mine: int, share: int, successor: bool
) -> None:
    plan = slot_hand_over(limit=limit, holding=holding, mine=mine, share=share, successor=successor)
    assert plan.run in (0, 1)
    assert plan.wait in (0, 1)
    assert holding + plan.run <= max(limit, holding), "a job runs only where the limit has room"
    assert not (successor and plan.run), "the job that waited takes the slot"
    if plan.wait:
        assert holding + plan.run >= limit, "a job waits only for a full queue"
        assert successor or plan.run, "and only behind a job that runs in the slot"
