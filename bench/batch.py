"""Batch benchmark: N leads from conversion to every restaurant registered, all answers in bulk; prints
a table. Not a test.

    .venv/bin/python bench/batch.py             # 1,000 on SQLite and on PostgreSQL (2 worker processes)
    .venv/bin/python bench/batch.py --databases sqlite --restaurants 200

The driver runs the API in-process (``httpx.ASGITransport``) and starts ``onboardflow worker`` processes
on the same database with zero-latency simulated services. It imports N leads, converts them into a
batch, then every half second reads the batch (its counts per step say what waits for a person, as the
batch page shows them) and answers in bulk whatever waits (confirm the search terms; accept the
pre-selected companies, and choose one for each restaurant without a clear match, all those choices in
one request; one configuration for all) until the batch ends.
Time is from the conversion request to the batch's final status. While all N restaurants wait at the
company search, ``GET /api/registration-batches/{id}`` (page of 50) and ``GET /api/actions`` for the
batch (page of 50) are each timed 50 times; the table shows p50 and p95. Nothing else happens while
they are timed (every restaurant waits for the answer the driver holds back until they are done), so
that time ("probes s") is not counted in "seconds": it is a separate measurement, not the batch's.
The same two pages are also timed at every 4th poll (every 2 s or more) while the workers run ("while
running"), as an operator watching the batch would load them, and that time is part of "seconds"; the
driver's own poll reads one row of the batch.
Pumpd's cluster-wide limit is 1,000 (``--pumpd-concurrency``): the product's default of 3 protects the
real service, and the simulated one answers at once.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and bench/queue.py would hide the
# standard library's `queue` module from everything imported below.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench.benchkit import CpuMeter, fresh_database, table

from onboardflow.api.app import create_app
from onboardflow.config import Settings
from onboardflow.domain.statuses import UserRole
from onboardflow.operations import accounts
from onboardflow.operations.services import build_services, close_services

SECRET = "bench-secret-key"
BUSY_PROBE_EVERY = 4
"""Time the two pages at every 4th poll of the batch (every 2 s or more)."""
CONFIG = {"account": {"password": "bench-pass-123"}, "payment": {"provider": "cash"}}


def lead(index: int) -> dict[str, Any]:
    from tests.runtime.batch_driver import lead as sample_lead

    item = sample_lead(index % 300)
    item["name"] = f"{item['name']} {index // 300 + 1}" if index >= 300 else item["name"]
    item["marketplace_url"] = f"https://www.ubereats.com/nz/store/bench-{index}"
    return item


def pick(action: dict[str, Any]) -> str:
    """The candidate an operator picks for a company selection without a clear match: the one the
    simulated register made for the restaurant's name ("(No. 1)"), else the best."""
    candidates = action["input"]["candidates"]
    first = next((c for c in candidates if "(No. 1)" in c["name"]), candidates[0])
    return str(first["id"])


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def timed_gets(client: httpx.AsyncClient, url: str, headers: dict[str, str], times: int) -> list[float]:
    took = []
    for _ in range(times):
        started = time.perf_counter()
        r = await client.get(url, headers=headers)
        took.append((time.perf_counter() - started) * 1000)
        assert r.status_code == 200, r.text
    return took


async def run_one(
    kind: str, restaurants: int, processes: int, concurrency: int, workdir: Path, pumpd_concurrency: int
) -> dict[str, Any]:
    url = fresh_database(kind, workdir, "bench_batch")
    settings = Settings(
        _env_file=None, database_url=url, data_dir=workdir, secret_key=SECRET, embedded_worker=False
    )  # type: ignore[call-arg]
    services = build_services(settings)
    await accounts.create_organisation(services, "Bench")
    user, _password = await accounts.create_user(
        services, organisation="Bench", email="bench@bench.test", role=UserRole.ADMIN
    )
    token = await accounts.create_token(services, organisation="Bench", role=UserRole.ADMIN, user_id=user.id)
    headers = {"Authorization": f"Bearer {token}"}
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "ONBOARDFLOW_DATABASE_URL": url,
        "ONBOARDFLOW_DATA_DIR": str(workdir),
        "ONBOARDFLOW_SECRET_KEY": SECRET,
        "ONBOARDFLOW_PUMPD_CONCURRENCY": str(pumpd_concurrency),
        "ONBOARDFLOW_LOG_LEVEL": "WARNING",
    }
    log = (workdir / f"workers-{kind}.log").open("w")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "onboardflow",
            "worker",
            "--processes",
            str(processes),
            "--concurrency",
            str(concurrency),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir,
    )
    requests = 0
    cpu = CpuMeter(worker.pid)
    try:
        app = create_app(settings, services=services)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=600
        ) as client:
            leads = await client.post(
                "/api/leads", json=[lead(i) for i in range(restaurants)], headers=headers
            )
            ids = [item["id"] for item in leads.json()["items"]]
            started = time.perf_counter()
            batch = await client.post(
                "/api/leads/convert", json={"name": "Bench", "lead_ids": ids}, headers=headers
            )
            assert batch.status_code == 201, batch.text
            batch_id = batch.json()["id"]
            detail_ms: list[float] = []
            actions_ms: list[float] = []
            probes = 0.0
            status = "in_progress"
            busy_detail_ms: list[float] = []
            busy_actions_ms: list[float] = []
            polls = 0
            while status not in ("completed", "failed", "cancelled"):
                if polls % BUSY_PROBE_EVERY == 0:
                    # The batch page's first page and the batch's action queue, as an operator watching
                    # the batch loads them, timed while the workers run.
                    busy_detail_ms += await timed_gets(
                        client, f"/api/registration-batches/{batch_id}?limit=50", headers, 1
                    )
                    busy_actions_ms += await timed_gets(
                        client, f"/api/actions?batch_id={batch_id}&limit=50", headers, 1
                    )
                polls += 1
                summary = (
                    await client.get(f"/api/registration-batches/{batch_id}?limit=1", headers=headers)
                ).json()
                status = summary["status"]
                # What waits for a person, per step, as the batch page shows it (as the demo reads it).
                waiting = {
                    key: summary["counts_by_step"].get(key, {}).get("action_required", 0)
                    for key in ("company_search", "company_selection", "yolo_config")
                }
                if waiting["company_search"] == restaurants and not detail_ms:
                    probing = time.perf_counter()
                    detail_ms = await timed_gets(
                        client, f"/api/registration-batches/{batch_id}?limit=50", headers, 50
                    )
                    actions_ms = await timed_gets(
                        client, f"/api/actions?batch_id={batch_id}&limit=50", headers, 50
                    )
                    probes = time.perf_counter() - probing
                for mode, key in (
                    ("confirm_search_terms", "company_search"),
                    ("accept_preselected", "company_selection"),
                    ("apply_config", "yolo_config"),
                ):
                    if waiting[key] and (key != "company_search" or detail_ms):
                        body = {"mode": mode, "batch_id": batch_id, "config": CONFIG}
                        r = await client.post("/api/actions/bulk", json=body, headers=headers)
                        requests += 1
                        assert r.status_code == 200, r.text
                if waiting["company_selection"]:
                    # The companies without a clear match: the operator's choice for each, in one request.
                    page = await client.get(
                        f"/api/actions?batch_id={batch_id}&step_key=company_selection&limit=500",
                        headers=headers,
                    )
                    chosen = [
                        {"step_id": action["step_id"], "answer": {"candidate_id": pick(action)}}
                        for action in page.json()["items"]
                        if action["input"]["preselected_candidate_id"] is None
                    ]
                    if chosen:
                        body = {"mode": "answers", "items": chosen}
                        r = await client.post("/api/actions/bulk", json=body, headers=headers)
                        requests += 1
                        assert r.status_code == 200, r.text
                await asyncio.sleep(0.5)
            elapsed = time.perf_counter() - started - probes
            final = (
                await client.get(f"/api/registration-batches/{batch_id}?limit=1", headers=headers)
            ).json()
            spent = cpu.read()
    finally:
        worker.terminate()
        worker.wait(30)
        await close_services(services)
    return {
        "database": kind,
        "processes": processes,
        "concurrency": concurrency,
        "restaurants": restaurants,
        "seconds": elapsed,
        "probes": probes,
        "status": final["status"],
        "counts": final["counts_by_status"],
        "requests": requests,
        "detail_p50": statistics.median(detail_ms) if detail_ms else float("nan"),
        "detail_p95": percentile(detail_ms, 0.95) if detail_ms else float("nan"),
        "actions_p50": statistics.median(actions_ms) if actions_ms else float("nan"),
        "actions_p95": percentile(actions_ms, 0.95) if actions_ms else float("nan"),
        "busy_detail": (statistics.median(busy_detail_ms), percentile(busy_detail_ms, 0.95)),
        "busy_actions": (statistics.median(busy_actions_ms), percentile(busy_actions_ms, 0.95)),
        "cpu_ms": {name: seconds * 1000 / restaurants for name, seconds in spent.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--restaurants", type=int, default=1000)
    # On 2 cores, PostgreSQL's workers use less CPU per restaurant at 15 jobs each than at 30, and
    # SQLite's more (docs/benchmarks.md, 2026-12-07). At 50, 2 processes x (50 + 5) pooled
    # connections and the API's pool exceeded PostgreSQL's default 100 connections.
    parser.add_argument("--concurrency", type=int, default=15, help="jobs per worker process on PostgreSQL")
    parser.add_argument(
        "--sqlite-concurrency", type=int, default=30, help="jobs per worker process on SQLite"
    )
    parser.add_argument(
        "--pumpd-concurrency",
        type=int,
        default=1000,
        help="Pumpd calls at once, cluster-wide (the product's default, 3, protects the real service; the "
        "simulated one answers at once)",
    )
    parser.add_argument(
        "--sqlite-processes", type=int, default=2, help="worker processes on SQLite (PostgreSQL: 2)"
    )
    args = parser.parse_args()
    if args.pumpd_concurrency < 1:
        parser.error("--pumpd-concurrency must be at least 1")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.databases.split(","):
            processes, concurrency = (
                (args.sqlite_processes, args.sqlite_concurrency)
                if kind == "sqlite"
                else (2, args.concurrency)
            )
            rows.append(
                asyncio.run(
                    run_one(kind, args.restaurants, processes, concurrency, Path(tmp), args.pumpd_concurrency)
                )
            )
    table(
        f"{args.restaurants} restaurants, all answers in bulk, zero-latency simulated services, "
        f"Pumpd limit {args.pumpd_concurrency}",
        [
            "database",
            "processes",
            "jobs per process",
            "restaurants",
            "seconds",
            "probes s",
            "final",
            "counts",
            "answer requests",
            "detail p50 / p95 ms",
            "actions p50 / p95 ms",
            "while running: detail / actions p50 / p95 ms",
            "CPU per restaurant: workers / PostgreSQL / API and driver ms",
        ],
        [
            [
                row["database"],
                str(row["processes"]),
                str(row["concurrency"]),
                str(row["restaurants"]),
                f"{row['seconds']:.1f}",
                f"{row['probes']:.1f}",
                row["status"],
                str(row["counts"]),
                str(row["requests"]),
                f"{row['detail_p50']:.0f} / {row['detail_p95']:.0f}",
                f"{row['actions_p50']:.0f} / {row['actions_p95']:.0f}",
                "{:.0f} / {:.0f}; {:.0f} / {:.0f}".format(*row["busy_detail"], *row["busy_actions"]),
                " / ".join(f"{row['cpu_ms'][name]:.0f}" for name in ("workers", "postgresql", "driver")),
            ]
            for row in rows
        ],
    )


if __name__ == "__main__":
    main()
