"""The SQLite writers' lock file: one holder at a time, the next one in as soon as it is let go, and
neither a cancelled nor a timed-out waiter keeps it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from onboardflow.store.writer_lock import WriterLock


async def test_a_second_writer_waits_and_gets_the_lock_as_soon_as_it_is_released(tmp_path: Path) -> None:
    first, second = WriterLock(tmp_path / "db.sqlite"), WriterLock(tmp_path / "db.sqlite")
    assert await first.acquire(timeout=1)
    waiting = asyncio.create_task(second.acquire(timeout=5))
    await asyncio.sleep(0.2)
    assert not waiting.done(), "the second writer waits while the first holds the lock"
    released = time.monotonic()
    first.release()
    assert await waiting
    assert time.monotonic() - released < 0.5
    assert not await first.acquire(timeout=0.1), "held by the second writer now"
    second.release()
    first.close()
    second.close()


async def test_a_cancelled_or_timed_out_waiter_lets_the_lock_go_when_its_thread_gets_it(
    tmp_path: Path,
) -> None:
    holder, cancelled, timed_out = (WriterLock(tmp_path / "db.sqlite") for _ in range(3))
    assert await holder.acquire(timeout=1)
    waiting = asyncio.create_task(cancelled.acquire(timeout=5))
    await asyncio.sleep(0.1)
    waiting.cancel()
    assert not await timed_out.acquire(timeout=0.1)
    holder.release()
    for _ in range(50):  # both threads take the lock in turn and let it go at once
        if await holder.acquire(timeout=0.05):
            break
    else:
        raise AssertionError("the lock stayed taken after its waiters gave up")
    holder.release()
    for lock in (holder, cancelled, timed_out):
        lock.close()
