"""Wake-ups after commit: in-process callbacks always, PostgreSQL NOTIFY across processes.

NOTIFY is a hint sent by the application after the enqueueing transaction committed, one per
queue and coalesced across concurrent commits (never a per-row trigger). Workers LISTEN and keep a
slow poll as the safety net; with ``listen_notify`` off (PgBouncer) they only poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import psycopg
import psycopg.sql

from onboardflow.store.engine import libpq_url

JOBS_CHANNEL = "onboardflow_jobs"
CANCEL_CHANNEL = "onboardflow_cancel"
CANCEL_PREFIX = "cancel:"

log = logging.getLogger("onboardflow.notify")
Subscriber = Callable[[str, str], None]


class WakeupHub:
    """Delivers wake-ups to this process's subscribers and, on PostgreSQL, to other processes."""

    def __init__(self, database_url: str | None) -> None:
        self._url = database_url
        self._subscribers: list[Subscriber] = []
        self._pending: set[tuple[str, str]] = set()
        self._flusher: asyncio.Task[None] | None = None
        self._conn: psycopg.AsyncConnection[Any] | None = None

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber(channel, payload)`` for each wake-up; returns the unsubscribe function."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def deliver_locally(self, channel: str, payload: str) -> None:
        """Hand one wake-up to this process's subscribers."""
        for subscriber in list(self._subscribers):
            subscriber(channel, payload)

    def publish(self, items: Iterable[str]) -> None:
        """Wake subscribers for queue names (``*`` for any) and ``cancel:<job id>`` items.

        Local subscribers are called at once; NOTIFY goes out from a background task on a dedicated
        connection, so the committing caller does not wait, and concurrent commits share one flush.
        """
        messages = {
            (CANCEL_CHANNEL, item[len(CANCEL_PREFIX) :])
            if item.startswith(CANCEL_PREFIX)
            else (JOBS_CHANNEL, item)
            for item in items
        }
        for channel, payload in messages:
            self.deliver_locally(channel, payload)
        if self._url is None:
            return
        self._pending |= messages
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush(), name="notify")

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, set()
            try:
                if self._conn is None or self._conn.closed:
                    assert self._url is not None
                    self._conn = await psycopg.AsyncConnection.connect(libpq_url(self._url), autocommit=True)
                for channel, payload in sorted(batch):
                    await self._conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))
            except (psycopg.Error, OSError) as exc:
                # A lost hint only delays work until the next poll.
                log.warning("could not send wake-up notifications: %s", exc)
                await self._close_connection()

    async def _close_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await self._conn.close()
            self._conn = None

    async def close(self) -> None:
        """Send what is pending and close the notification connection."""
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await self._flusher
        await self._close_connection()


async def listen(
    url: str, channels: Iterable[str], *, reconnect_delay: float = 1.0
) -> AsyncIterator[tuple[str, str]]:
    """Yield ``(channel, payload)`` notifications from PostgreSQL, reconnecting after failures."""
    names = list(channels)
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True) as conn:
                for name in names:
                    await conn.execute(psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(name)))
                yield ("", "connected")
                async for note in conn.notifies():
                    yield (note.channel, note.payload)
        except (psycopg.Error, OSError) as exc:
            log.warning("LISTEN connection lost (%s); reconnecting", exc)
            await asyncio.sleep(reconnect_delay)
