"""What the benchmark scripts share: fresh databases, CPU time of the processes taking part, tables.

Imported as ``bench.benchkit`` (the scripts put the repository root on ``sys.path``; their own folder
is taken off it, as ``bench/queue.py`` would hide the standard library's ``queue``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psutil
import psycopg

from onboardflow.store import migrate
from onboardflow.store.engine import libpq_url

PG_ADMIN = os.environ.get("ONBOARDFLOW_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def fresh_database(kind: str, workdir: Path, name: str) -> str:
    """A new, migrated SQLite file or PostgreSQL database called ``name`` (an earlier one of that
    name is dropped first, so the last run's database stays for inspection)."""
    if kind == "sqlite":
        path = workdir / f"{name}.db"
        path.unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        database = f"onboardflow_{name}".replace("-", "_")
        with psycopg.connect(libpq_url(PG_ADMIN), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")  # type: ignore[arg-type]
            conn.execute(f"CREATE DATABASE {database}")  # type: ignore[arg-type]
        url = f"{libpq_url(PG_ADMIN).rsplit('/', 1)[0]}/{database}"
    migrate.upgrade(url)
    return url


def drop_database(url: str) -> None:
    """Drop a PostgreSQL database made by ``fresh_database`` (SQLite files go with their folder)."""
    if url.startswith("postgresql"):
        database = url.rsplit("/", 1)[1]
        with psycopg.connect(libpq_url(PG_ADMIN), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")  # type: ignore[arg-type]


def cpu_by_pid(processes: Iterable[Any]) -> dict[int, float]:
    """User plus system CPU seconds of each of ``processes`` so far (those that vanished are left out)."""
    found = {}
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        found[process.pid] = times.user + times.system
    return found


def cpu_since(before: dict[int, float], now: dict[int, float]) -> float:
    """CPU seconds spent between two ``cpu_by_pid`` readings (a process new since counts whole)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in now.items())


class CpuMeter:
    """CPU seconds spent by this process, by the worker process ``worker_pid`` with its children,
    and by PostgreSQL's processes, from the moment it is made until ``read`` (time of processes that
    end meanwhile is lost, so read it before stopping the workers)."""

    def __init__(self, worker_pid: int) -> None:
        self._worker = psutil.Process(worker_pid)
        self._driver = cpu_by_pid([psutil.Process()])
        self._workers = cpu_by_pid(self._worker_tree())
        self._database = cpu_by_pid(_postgres())

    def _worker_tree(self) -> list[Any]:
        return [self._worker, *self._worker.children(recursive=True)]

    def read(self) -> dict[str, float]:
        """``{"driver": s, "workers": s, "postgresql": s}`` since the meter was made."""
        return {
            "driver": cpu_since(self._driver, cpu_by_pid([psutil.Process()])),
            "workers": cpu_since(self._workers, cpu_by_pid(self._worker_tree())),
            "postgresql": cpu_since(self._database, cpu_by_pid(_postgres())),
        }


def _postgres() -> list[Any]:
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    """Print ``rows`` as a Markdown table under ``title`` (ready for docs/benchmarks.md)."""
    print(f"\n{title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
