"""Built-in job types: ``noop`` for benchmarks and health checks."""

from __future__ import annotations

import asyncio
from typing import Any

from onboardflow.errors import PermanentError
from onboardflow.runtime.context import JobContext
from onboardflow.runtime.registry import Registry

builtin = Registry()

MAX_NOOP_SLEEP_MS = 600_000


@builtin.register(
    "noop", description="Does nothing (optionally sleeps `sleep_ms`); for benchmarks and checks."
)
async def noop(ctx: JobContext) -> dict[str, Any]:
    """Does nothing, after sleeping ``sleep_ms`` milliseconds if given."""
    sleep_ms = ctx.payload.get("sleep_ms", 0)
    if not isinstance(sleep_ms, int | float) or not 0 <= sleep_ms <= MAX_NOOP_SLEEP_MS:
        raise PermanentError(f"payload.sleep_ms must be a number from 0 to {MAX_NOOP_SLEEP_MS}")
    if sleep_ms:
        await asyncio.sleep(sleep_ms / 1000)
    return {"ok": True}
