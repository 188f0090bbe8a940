"""Running workers as processes: signals, graceful shutdown, and several processes at once."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

from onboardflow.config import Settings
from onboardflow.runtime.context import RuntimeDeps
from onboardflow.runtime.registry import Registry
from onboardflow.runtime.worker import Worker

log = logging.getLogger("onboardflow.worker")

# A busy worker allocates a few hundred thousand containers a second, nearly all freed by reference
# counting: at Python's default (a young collection every 700) the collector took about a tenth of a
# worker's CPU in a batch. Rarer young collections leave the same garbage and cost far less.
WORKER_GC_THRESHOLDS = (20_000, 20, 20)


async def run_until_signalled(worker: Worker) -> None:
    """Run ``worker`` until SIGTERM or SIGINT, then shut it down gracefully."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    try:
        await worker.run()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def run_worker_process(
    settings: Settings, build: Callable[[Settings], tuple[RuntimeDeps, Registry]], *, concurrency: int
) -> None:
    """Run one worker in this process until it is signalled."""

    async def main() -> None:
        deps, registry = build(settings)
        # Everything built so far lives as long as the process: out of the collector's sight, a
        # full collection no longer walks it (one took some 90 ms of a busy worker's event loop).
        gc.freeze()
        gc.set_threshold(*WORKER_GC_THRESHOLDS)
        try:
            await run_until_signalled(Worker(deps, registry, concurrency=concurrency))
        finally:
            await deps.adapters.aclose()
            await deps.db.dispose()

    run_event_loop(main())


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop where it is installed (the worker's hot path is event-loop work: its
    callbacks and socket reads cost a fraction of asyncio's own loop), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        asyncio.run(main)
        return
    uvloop.run(main)


def supervise_worker_processes(processes: int, concurrency: int) -> int:
    """Start ``processes`` worker processes and wait for them; signals are passed on to them.

    Returns the first non-zero exit code of a child, or 0.
    """
    command = [
        sys.executable,
        "-m",
        "onboardflow",
        "worker",
        "--processes",
        "1",
        "--concurrency",
        str(concurrency),
    ]
    children = [subprocess.Popen(command) for _ in range(processes)]
    log.info("started %d worker processes: %s", processes, [c.pid for c in children])

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while any(child.poll() is None for child in children):
        time.sleep(0.2)
    codes = [child.returncode for child in children]
    return next((code for code in codes if code), 0)
