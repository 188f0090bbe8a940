"""Waiting for a condition in async tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def wait_for(
    check: Callable[[], Awaitable[bool]], *, timeout: float, interval: float = 0.05, what: str = "condition"
) -> float:
    """Poll ``check`` until it holds; returns the seconds it took, fails after ``timeout``."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)
    return time.monotonic() - started
