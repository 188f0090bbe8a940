"""Registration-run benchmark: makespan of many runs against the lower bound, and runs per second.

    .venv/bin/python bench/registration.py                      # both parts, both databases
    .venv/bin/python bench/registration.py --runs 200 --latency-ms 100 --limit 20 --databases postgresql

Part 1: RUNS single-restaurant runs start at once with every simulated external call taking
LATENCY ms and at most LIMIT Pumpd calls at once in the cluster. The lower bound on the makespan is
the larger of the graph's critical path (calls in the longest dependency chain x latency) and the
capacity bound (runs x calls per run x latency / limit). The makespan runs from the first run's
creation to the last run's completion, as the database recorded them.
Part 2: the same runs with zero latency (and the limit raised to the worker slots): runs per second.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder comes first on sys.path, and bench/queue.py would hide the standard
# library's `queue` module from everything imported below.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import os
import subprocess
import tempfile
from functools import cache
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench.benchkit import CpuMeter, fresh_database, table

from onboardflow.config import Settings
from onboardflow.domain.leads import RestaurantInput
from onboardflow.domain.menus import normalise_menu
from onboardflow.domain.statuses import StepStatus
from onboardflow.domain.substeps import SUB_STEPS, plan_next
from onboardflow.domain.yolo_config import validate_yolo_config
from onboardflow.operations import accounts, registrations, restaurants
from onboardflow.operations.services import build_services, close_services
from onboardflow.store import restaurants as restaurant_store
from onboardflow.store.tables import registration_jobs

STARTERS = 10  # runs being started at once, as concurrent API requests would

CONFIG: dict[str, Any] = {
    "account": {"email": "owner@bench.example", "password": "bench-password", "phone": "+64 21 555 0100"},
    "restaurant": {
        "name": "Bench Bistro",
        "address": "1 Queen Street",
        "city": "Auckland",
        "phone": "09 555 0100",
        "email": "hello@bench.example",
        "cuisine": "Burgers",
    },
    "menu": {"import_menu": True, "source": "extracted"},
    "option_sets": {"enabled": True},
    "item_tags": {"enabled": True},
    "website": {"theme": "light", "primary_colour": "#123456", "secondary_colour": "#abcdef"},
    "services": {"delivery": True, "pickup": True, "dine_in": False},
    "payment": {"provider": "cash"},
    "onboarding": {"create_user": True, "sync": True, "user_email": "ops@bench.example", "user_name": "Ops"},
}
MENU = {
    "categories": [
        {
            "name": "Mains",
            "items": [
                {"name": "Veggie Burger", "price": "15.00", "tags": ["vegetarian"]},
                {
                    "name": "Steak",
                    "price": "29.00",
                    "option_groups": [{"name": "Cook", "min": 1, "max": 1, "options": [{"name": "Rare"}]}],
                },
            ],
        }
    ]
}


@cache
def graph_figures() -> tuple[int, int]:
    """(calls per run, calls on the longest dependency chain) for CONFIG, from the domain's graph."""
    config = validate_yolo_config(CONFIG).model_dump(mode="json")
    statuses = {s.key: StepStatus.PENDING.value for s in SUB_STEPS}
    depth: dict[str, int] = {}
    while True:
        plan = plan_next(statuses, config)
        for key, _reason in plan.skip:
            statuses[key] = StepStatus.SKIPPED.value
        for key in plan.start:
            spec = next(s for s in SUB_STEPS if s.key == key)
            depth[key] = 1 + max((depth.get(a, 0) for a in (*spec.after, *spec.optional_after)), default=0)
            statuses[key] = StepStatus.COMPLETED.value
        if plan.outcome is not None:
            return len(depth), max(depth.values())


async def measure(
    kind: str, *, runs: int, latency_ms: int, limit: int, processes: int, concurrency: int, workdir: Path
) -> float:
    """Start ``runs`` runs against fresh workers; return the makespan in seconds."""
    url = fresh_database(kind, workdir, f"benchreg_{latency_ms}ms")
    settings = Settings(_env_file=None, database_url=url, data_dir=workdir, secret_key="bench")  # type: ignore[call-arg]
    services = build_services(settings)
    await accounts.create_organisation(services, "Bench")
    await accounts.create_user(
        services, organisation="Bench", email="bench@bench.example", role=accounts.UserRole.ADMIN
    )
    principal = await accounts.authenticate_token(
        services, await accounts.create_token(services, organisation="Bench")
    )
    ids = []
    menu = normalise_menu(MENU)
    for i in range(runs):
        created = await restaurants.create_restaurant(
            services, principal, RestaurantInput(name=f"Bench Bistro {i}")
        )
        async with services.db.write() as conn:
            await restaurant_store.update_restaurant(
                conn, principal.organisation_id, created.id, {"menu": menu}
            )
        ids.append(created.id)
    env = {
        **os.environ,
        "ONBOARDFLOW_DATABASE_URL": url,
        "ONBOARDFLOW_DATA_DIR": str(workdir),
        "ONBOARDFLOW_SECRET_KEY": "bench",
        "ONBOARDFLOW_LOG_LEVEL": "WARNING",
        "ONBOARDFLOW_PUMPD_CONCURRENCY": str(limit),
        "ONBOARDFLOW_SIMULATION_FAULTS": f'{{"latency_ms": {latency_ms}}}',
    }
    command = [sys.executable, "-m", "onboardflow", "worker", "--processes", str(processes)]
    worker = subprocess.Popen([*command, "--concurrency", str(concurrency)], env=env, cwd=workdir)
    try:
        await wait_for_workers(services, processes)
        cpu = CpuMeter(worker.pid)
        gate = asyncio.Semaphore(STARTERS)

        async def start(restaurant_id: Any) -> None:
            async with gate:
                await registrations.start_single_run(services, principal, restaurant_id, CONFIG)

        await asyncio.gather(*(start(restaurant_id) for restaurant_id in ids))
        while True:
            async with services.db.read() as conn:
                row = (
                    await conn.execute(
                        sa.select(
                            sa.func.count().filter(registration_jobs.c.status.in_(["completed", "failed"])),
                            sa.func.count().filter(registration_jobs.c.status == "failed"),
                            sa.func.min(registration_jobs.c.created_at),
                            sa.func.max(registration_jobs.c.completed_at),
                        )
                    )
                ).one()
            if row[0] == runs:
                break
            await asyncio.sleep(0.2)
        if row[1]:
            print(f"  warning: {row[1]} runs failed", flush=True)
        per = {name: seconds * 1000 / (runs * graph_figures()[0]) for name, seconds in cpu.read().items()}
        database = f", PostgreSQL {per['postgresql']:.1f} ms" if kind == "postgresql" else ""
        print(
            f"  {kind}: CPU per sub-step: workers {per['workers']:.1f} ms{database}, "
            f"starting the runs {per['driver']:.1f} ms",
            flush=True,
        )
    finally:
        worker.terminate()
        worker.wait(30)
        await close_services(services)
    return float((row[3] - row[2]).total_seconds())


async def wait_for_workers(services: Any, processes: int) -> None:
    while True:
        async with services.db.read() as conn:
            if (await conn.execute(sa.text("SELECT COUNT(*) FROM workers"))).scalar_one() >= processes:
                return
        await asyncio.sleep(0.1)


async def main(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="onboardflow-bench-"))
    calls, chain = graph_figures()
    latency = args.latency_ms / 1000
    bound = max(chain * latency, args.runs * calls * latency / args.limit)
    rows = []
    for kind in args.databases.split(",") if args.latency_ms and args.part != "throughput" else []:
        makespan = await measure(
            kind,
            runs=args.runs,
            latency_ms=args.latency_ms,
            limit=args.limit,
            processes=args.processes,
            concurrency=args.concurrency,
            workdir=workdir,
        )
        rows.append([kind, f"{makespan:.2f}", f"{bound:.2f}", f"{makespan / bound:.3f}"])
        print(f"  {kind}: makespan {makespan:.2f}s, bound {bound:.2f}s", flush=True)
    if rows:
        table(
            f"{args.runs} runs, {calls} calls each (chain of {chain}), {args.latency_ms} ms per call, "
            f"Pumpd limit {args.limit}, {args.processes} worker processes x {args.concurrency}",
            ["database", "makespan s", "lower bound s", "ratio"],
            rows,
        )
    rows = []
    for kind in args.databases.split(",") if args.part != "makespan" else []:
        makespan = await measure(
            kind,
            runs=args.runs,
            latency_ms=0,
            limit=args.processes * args.concurrency,
            processes=args.processes,
            concurrency=args.concurrency,
            workdir=workdir,
        )
        rows.append([kind, f"{makespan:.2f}", f"{args.runs / makespan:.1f}"])
    if rows:
        table(
            f"{args.runs} runs with zero latency, {args.processes} worker processes x {args.concurrency}",
            ["database", "makespan s", "runs/s"],
            rows,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--databases", default="postgresql,sqlite")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=30)
    parser.add_argument(
        "--part", choices=["both", "makespan", "throughput"], default="both", help="which part to run"
    )
    asyncio.run(main(parser.parse_args()))
