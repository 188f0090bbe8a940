"""Job types for runtime tests, loaded into real worker processes via ONBOARDFLOW_HANDLER_MODULES.

``record`` appends lines ``<event> <job id> <attempt> <pid> <unix time>`` to the file named in its
payload, so tests can see what ran where and when, even across processes.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from onboardflow.errors import RetryableError
from onboardflow.runtime.context import JobContext
from onboardflow.runtime.registry import Registry

registry = Registry()


def _write(ctx: JobContext, event: str) -> None:
    line = f"{event} {ctx.job.id} {ctx.attempt} {os.getpid()} {time.time():.6f}\n"
    with Path(ctx.payload["log"]).open("a") as f:
        f.write(line)


@registry.register("record")
async def record(ctx: JobContext) -> dict[str, Any]:
    """Writes start, a tick every tick_ms while sleeping sleep_ms, then end."""
    _write(ctx, "start")
    remaining = ctx.payload.get("sleep_ms", 0) / 1000
    tick = ctx.payload.get("tick_ms", 50) / 1000
    try:
        while remaining > 0:
            await asyncio.sleep(min(tick, remaining))
            remaining -= tick
            _write(ctx, "tick")
    except asyncio.CancelledError:
        _write(ctx, "cancelled")
        raise
    _write(ctx, "end")
    return {"pid": os.getpid()}


@registry.register("flaky")
async def flaky(ctx: JobContext) -> dict[str, Any]:
    """Fails with a retryable error until attempt ``succeed_on``."""
    _write(ctx, "start")
    if ctx.attempt < ctx.payload.get("succeed_on", 2):
        raise RetryableError("temporarily unavailable", retry_after=ctx.payload.get("retry_after", 0.0))
    return {"attempt": ctx.attempt}


def read_log(path: Path) -> list[tuple[str, str, int, int, float]]:
    """The lines the handlers wrote: (event, job id, attempt, pid, time)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        event, job_id, attempt, pid, at = line.split()
        rows.append((event, job_id, int(attempt), int(pid), float(at)))
    return rows
