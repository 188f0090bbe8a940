"""The lock file that onboardflow's processes take before they write to one SQLite database.

SQLite lets one writer in at a time; a process that finds the database locked sleeps in SQLite's
busy handler (1, 2, 5, 10 ms, up to 100 ms) and tries again, so with several worker processes the
lock is often free while every waiting writer still sleeps. An exclusive ``flock`` on a file beside
the database, taken before ``BEGIN IMMEDIATE`` and released after the commit, queues the writers in
the kernel instead: the next one wakes as soon as the lock is let go. Writers outside onboardflow
still meet the busy timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from pathlib import Path


class WriterLock:
    """An exclusive advisory lock on ``<database>-writer.lock``, held by one write transaction of
    one process at a time (a process's writes already take turns on its single writer connection)."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + "-writer.lock")
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)

    async def acquire(self, timeout: float) -> bool:
        """Take the lock; when another process holds it, wait in a thread, not in the event loop.

        ``False`` after ``timeout`` seconds without it (a writer of this process on another
        connection, say): the caller then goes on without it, on SQLite's busy timeout alone.
        """
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        waiting = asyncio.ensure_future(asyncio.to_thread(fcntl.flock, self._fd, fcntl.LOCK_EX))
        try:
            await asyncio.wait_for(asyncio.shield(waiting), timeout)
        except (TimeoutError, asyncio.CancelledError) as exc:
            # The thread goes on waiting and will get the lock: let it go as soon as it does.
            waiting.add_done_callback(self._release_if_taken)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return False
        return True

    def release(self) -> None:
        """Let the next writer in."""
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the lock file (its lock, if held, goes with it)."""
        with contextlib.suppress(OSError):
            os.close(self._fd)

    def _release_if_taken(self, waiting: asyncio.Future[None]) -> None:
        if not waiting.cancelled() and waiting.exception() is None:
            self.release()
