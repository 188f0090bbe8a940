"""Real worker processes for runtime tests."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import sqlalchemy as sa

from onboardflow.api.app import create_app
from onboardflow.config import Settings
from onboardflow.store.engine import Database
from tests.conftest import make_tenant

if TYPE_CHECKING:
    from tests.runtime.batch_driver import Batch

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcesses:
    """Starts `onboardflow worker` processes against one database and stops them at the end."""

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        self.database_url = database_url
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *, concurrency: int = 10, processes: int = 1, **settings: Any) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "ONBOARDFLOW_DATABASE_URL": self.database_url,
            "ONBOARDFLOW_DATA_DIR": str(self.tmp_path),
            "ONBOARDFLOW_SECRET_KEY": "test-secret-key",
            "ONBOARDFLOW_HANDLER_MODULES": json.dumps(["tests.runtime.handlers"]),
            "ONBOARDFLOW_LOG_LEVEL": "WARNING",
        }
        env.update({f"ONBOARDFLOW_{k.upper()}": str(v) for k, v in settings.items()})
        log = (self.tmp_path / f"worker-{len(self.procs)}.log").open("w")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "onboardflow",
                "worker",
                "--concurrency",
                str(concurrency),
                "--processes",
                str(processes),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.tmp_path,
        )
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()

    def logs(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.tmp_path.glob("worker-*.log")))


@pytest.fixture
def workers(database_url: str, tmp_path: Path) -> Iterator[WorkerProcesses]:
    procs = WorkerProcesses(database_url, tmp_path)
    yield procs
    procs.stop_all()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


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


async def job_statuses(db: Database) -> dict[str, int]:
    """How many jobs are in each status."""
    async with db.read() as conn:
        rows = await conn.execute(sa.text("SELECT status, COUNT(*) FROM jobs GROUP BY status"))
        return {r[0]: int(r[1]) for r in rows}


@pytest.fixture
def faults() -> dict[str, Any]:
    """The simulated services' fault plan of ``running`` (none unless a test parametrises it)."""
    return {}


@pytest.fixture
async def running(settings: Settings, faults: dict[str, Any]) -> AsyncIterator[Batch]:
    """A batch service (API and worker) for one organisation; ``faults`` are the simulation's."""
    from tests.runtime.batch_driver import Batch, start_service, stop_service  # it imports wait_for

    services, worker, task = await start_service(settings, faults)
    tenant = await make_tenant(services, "Batch Org")
    app = create_app(settings, services=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield Batch(services, client, tenant)
    await stop_service(services, worker, task)
