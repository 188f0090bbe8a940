"""Real worker processes for runtime tests."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from onboardflow.api.app import create_app
from onboardflow.config import Settings
from onboardflow.operations.services import Services
from onboardflow.store.engine import Database
from tests.conftest import make_tenant
from tests.runtime.batch_driver import Batch, start_service, stop_service
from tests.runtime.waiting import wait_for

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

    async def kill_when_busy(
        self, services: Services, proc: subprocess.Popen[bytes], *, what: str, **start: Any
    ) -> subprocess.Popen[bytes]:
        """SIGKILL ``proc`` a moment after it runs two jobs at once (``what`` says which, for the error
        when it never does), then start a worker with ``start`` (``start()``'s arguments) in its place."""

        async def busy() -> bool:
            return await _in_flight_on(services, proc.pid) >= 2

        await wait_for(busy, timeout=30, what=f"{what} running on the first worker:\n{self.logs()}")
        await asyncio.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        return self.start(**start)

    def logs(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.tmp_path.glob("worker-*.log")))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[str]:
    """`onboardflow sandbox` on a real port; every call takes 700 ms."""
    port = _free_port()
    env = {
        **os.environ,
        "ONBOARDFLOW_SIMULATION_FAULTS": '{"latency_ms": 700}',
        "ONBOARDFLOW_LOG_LEVEL": "WARNING",
        "ONBOARDFLOW_DATA_DIR": str(tmp_path),
    }
    log = (tmp_path / "sandbox.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "onboardflow", "sandbox", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{url}/_health")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


async def pumpd_calls_by(sandbox: str, field: str) -> dict[str, list[dict[str, Any]]]:
    """The Pumpd calls the sandbox at ``sandbox`` received, grouped by one of their fields."""
    async with httpx.AsyncClient() as client:
        calls: list[dict[str, Any]] = (
            await client.get(f"{sandbox}/_calls", params={"service": "pumpd"})
        ).json()
    grouped: dict[str, list[dict[str, Any]]] = {}
    for call in calls:
        grouped.setdefault(call[field], []).append(call)
    return grouped


async def _in_flight_on(services: Services, pid: int) -> int:
    """How many jobs the worker process ``pid`` is running."""
    async with services.db.read() as conn:
        query = sa.text("SELECT COUNT(*) FROM jobs WHERE status = 'in_progress' AND lease_owner LIKE :p")
        return int((await conn.execute(query, {"p": f"%-{pid}-%"})).scalar_one())


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
    services, worker, task = await start_service(settings, faults)
    tenant = await make_tenant(services, "Batch Org")
    app = create_app(settings, services=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield Batch(services, client, tenant)
    await stop_service(services, worker, task)
