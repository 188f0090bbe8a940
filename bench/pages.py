"""Page benchmark: server time of the operator's batch pages with a 1,000-restaurant batch; prints a
table. Not a test.

    .venv/bin/python bench/pages.py             # 1,000 restaurants on SQLite and PostgreSQL, 30 GETs
    .venv/bin/python bench/pages.py --databases sqlite --restaurants 200 --times 10

For each database it builds a fresh one, converts N leads into one batch with the product's own
operations (one transaction: restaurants, batch, jobs and step rows), then puts the restaurants into
a mix of every status without running the pipeline: a tenth each finished, failed at registration,
retrying company details, skipped company details (no company) and running, and the rest waiting at
the company search, the company selection (candidates persisted, clear or not) and the Yolo Mode
configuration (those through the store's own ``open_step``, so their input is what the inbox shows in
production), or still pending. Step rows are moved in bulk with SQLAlchemy Core on the store's tables.

Each page is then fetched ``--times`` times through the real ASGI app (``httpx.ASGITransport``, signed
in with a session cookie like a browser): the batch page (first page, a later page, filtered by a
step's status), the batches list, the action inbox and the inbox of that batch. The table shows
p50 / p95 / max milliseconds per page and database; a page over the 500 ms budget is marked.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and bench/queue.py would hide the
# standard library's `queue` module from everything imported below.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench.benchkit import drop_database, fresh_database

from onboardflow.api.app import create_app
from onboardflow.config import Settings
from onboardflow.domain.records import Principal
from onboardflow.domain.statuses import UserRole
from onboardflow.operations import accounts
from onboardflow.operations import batches as batch_ops
from onboardflow.operations import leads as lead_ops
from onboardflow.operations.services import Services, build_services, close_services
from onboardflow.store.actions import replace_candidates
from onboardflow.store.pipeline import open_step
from onboardflow.store.tables import registration_job_steps as steps
from onboardflow.store.tables import registration_jobs as runs
from onboardflow.store.types import utcnow

SECRET = "bench-secret-key"
BUDGET_MS = 500
STEP_KEYS = ("extraction", "company_search", "company_selection", "company_details", "yolo_config")
EXECUTION = "yolo_execution"
# What each tenth of the batch is made to show: (kind, how many tenths).
MIX = (
    ("completed", 1),
    ("failed", 1),
    ("retrying", 1),
    ("no_company", 1),
    ("running", 1),
    ("search", 1),
    ("selection", 2),
    ("config", 1),
    ("pending", 1),
)


def lead(index: int) -> dict[str, Any]:
    cuisines = ("Thai", "Pizza", "Sushi", "Indian", "Burgers", "Cafe")
    return {
        "name": f"Bench Kitchen {index:04d}",
        "address": f"{index % 300 + 1} Queen Street",
        "city": ("Auckland", "Wellington", "Christchurch")[index % 3],
        "phone": f"09 555 {index:04d}",
        "cuisine": cuisines[index % len(cuisines)],
        "marketplace_url": f"https://www.ubereats.com/nz/store/bench-{index}",
    }


def kinds_for(total: int) -> list[str]:
    """The kind of each restaurant, by position: tenths interleaved so every page shows them all."""
    cycle = [kind for kind, tenths in MIX for _ in range(tenths)]
    return [cycle[i % len(cycle)] for i in range(total)]


def candidates_for(index: int, clear: bool) -> list[dict[str, Any]]:
    name = f"Bench Kitchen {index:04d}"
    found = [
        {
            "company_number": f"{index}{n}",
            "nzbn": f"94290{index:04d}{n:04d}",
            "name": f"{name} {suffix} Limited",
            "status": "Registered",
            "registered_address": f"{index % 300 + 1} Queen Street, Auckland Central, Auckland 1010",
            "score": score,
            "match_reasons": ["name", "address"] if n == 1 else ["name"],
            "matched_by": "name",
            "raw": {},
        }
        for n, suffix, score in (
            (1, "(No. 1)" if not clear else "", 1.0 if clear else 0.9),
            (2, "(No. 2)" if not clear else "Holdings", 0.9 if not clear else 0.6),
            (3, "Trading (2009)", 0.5),
        )
    ]
    for item in found:
        item["name"] = " ".join(item["name"].split())
    return found


async def shape_batch(services: Services, batch_id: UUID, total: int) -> dict[str, int]:
    """Move the batch's jobs and steps into the mix of ``MIX``; returns how many of each kind."""
    async with services.db.write() as conn:
        rows = (
            await conn.execute(
                sa.select(runs).where(runs.c.batch_job_id == batch_id).order_by(runs.c.created_at, runs.c.id)
            )
        ).mappings()
        all_runs = [dict(r) for r in rows]
    kinds = kinds_for(len(all_runs))
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for run, kind in zip(all_runs, kinds, strict=True):
        by_kind.setdefault(kind, []).append(run)
    now = utcnow()
    earlier = now - timedelta(minutes=5)

    def ids(kind: str) -> list[UUID]:
        return [r["id"] for r in by_kind.get(kind, [])]

    async def set_steps(conn: Any, run_ids: list[UUID], keys: tuple[str, ...], **values: Any) -> None:
        if run_ids and keys:
            await conn.execute(
                sa.update(steps)
                .where(
                    steps.c.registration_job_id.in_(run_ids),
                    steps.c.step_key.in_(keys),
                    steps.c.parent_step_id.is_(None),
                )
                .values(updated_at=now, **values)
            )

    async def set_subs(conn: Any, run_ids: list[UUID], **values: Any) -> None:
        if run_ids:
            await conn.execute(
                sa.update(steps)
                .where(steps.c.registration_job_id.in_(run_ids), steps.c.parent_step_id.is_not(None))
                .values(updated_at=now, **values)
            )

    async def set_runs(conn: Any, run_ids: list[UUID], **values: Any) -> None:
        if run_ids:
            await conn.execute(sa.update(runs).where(runs.c.id.in_(run_ids)).values(updated_at=now, **values))

    done = {"status": "completed", "attempts": 1, "started_at": earlier, "completed_at": now}
    async with services.db.write() as conn:
        # Finished: every step and sub-step completed.
        finished = ids("completed")
        await set_steps(conn, finished, (*STEP_KEYS, EXECUTION), **done)
        await set_subs(conn, finished, **done, duration_ms=1200)
        await set_runs(
            conn,
            finished,
            status="completed",
            current_step=EXECUTION,
            started_at=earlier,
            completed_at=now,
            pumpd_restaurant_id="pumpd-bench",
        )
        # Failed at registration: the menu import failed for good, what it blocked skipped.
        failed = ids("failed")
        await set_steps(conn, failed, STEP_KEYS, **done)
        await set_steps(
            conn,
            failed,
            (EXECUTION,),
            status="failed",
            attempts=1,
            error_message="menu_import: Pumpd answered 422: the menu has no categories",
            started_at=earlier,
            completed_at=now,
        )
        await set_subs(conn, failed, **done, duration_ms=900)
        await set_runs(
            conn,
            failed,
            status="failed",
            current_step=EXECUTION,
            current_phase="phase2",
            error_message="menu_import: Pumpd answered 422: the menu has no categories",
            started_at=earlier,
            completed_at=now,
        )
        # Retrying the company details after a timeout.
        retrying = ids("retrying")
        await set_steps(conn, retrying, ("extraction", "company_search", "company_selection"), **done)
        await set_steps(
            conn,
            retrying,
            ("company_details",),
            status="retrying",
            attempts=2,
            error_message="companies register: timed out after 10 s",
            next_attempt_at=now + timedelta(seconds=30),
            started_at=earlier,
        )
        await set_runs(
            conn, retrying, status="in_progress", current_step="company_details", started_at=earlier
        )
        # No company chosen: the details were skipped, the registration runs.
        no_company = ids("no_company")
        await set_steps(conn, no_company, ("extraction", "company_search", "company_selection"), **done)
        await set_steps(
            conn,
            no_company,
            ("company_details",),
            status="skipped",
            skip_reason="no company was chosen",
            completed_at=now,
        )
        await set_steps(conn, no_company, ("yolo_config",), **done)
        await set_steps(conn, no_company, (EXECUTION,), status="in_progress", attempts=1, started_at=now)
        await set_runs(conn, no_company, status="in_progress", current_step=EXECUTION, current_phase="phase2")
        # Extracting menus and branding.
        running = ids("running")
        await set_steps(conn, running, ("extraction",), status="in_progress", attempts=1, started_at=now)
        await set_runs(conn, running, status="in_progress", current_step="extraction", started_at=now)
        # Waiting for a person: their steps before are done, then the store opens the waiting step.
        await set_steps(conn, ids("search"), ("extraction",), **done)
        await set_steps(conn, ids("selection"), ("extraction", "company_search"), **done)
        await set_steps(
            conn,
            ids("config"),
            ("extraction", "company_search", "company_selection", "company_details"),
            **done,
        )
    for kind, key in (
        ("search", "company_search"),
        ("selection", "company_selection"),
        ("config", "yolo_config"),
    ):
        async with services.db.write() as conn:
            for n, run in enumerate(by_kind.get(kind, [])):
                if kind == "selection":
                    await replace_candidates(conn, run, candidates_for(n, clear=n % 3 != 0))
                await open_step(conn, run["id"], key, actor="bench", secrets=services.secrets)
    return {kind: len(v) for kind, v in by_kind.items()}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> None:
    page = await client.get("/login")
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, page.text
    r = await client.post("/login", data={"email": email, "password": password, "csrf": match.group(1)})
    assert r.status_code == 303, r.text


async def timed(client: httpx.AsyncClient, url: str, times: int, must_contain: str) -> list[float]:
    took = []
    r = await client.get(url)  # warm the template cache and the connection pool
    assert r.status_code == 200, (url, r.status_code, r.text[:2000])
    assert must_contain in r.text, (url, r.text[:2000])
    for _ in range(times):
        started = time.perf_counter()
        r = await client.get(url)
        took.append((time.perf_counter() - started) * 1000)
        assert r.status_code == 200, r.text
    return took


async def run_one(kind: str, restaurants: int, times: int, workdir: Path) -> list[dict[str, Any]]:
    url = fresh_database(kind, workdir, "bench_pages")
    settings = Settings(
        _env_file=None, database_url=url, data_dir=workdir, secret_key=SECRET, embedded_worker=False
    )  # type: ignore[call-arg]
    services = build_services(settings)
    try:
        org = await accounts.create_organisation(services, "Bench")
        user, password = await accounts.create_user(
            services, organisation="Bench", email="bench@bench.test", role=UserRole.ADMIN
        )
        principal = Principal(organisation_id=org.id, role=UserRole.ADMIN, user_id=user.id)
        started = time.perf_counter()
        leads = await lead_ops.import_leads(
            services, principal, lead_ops.parse_leads([lead(i) for i in range(restaurants)])
        )
        batch = await batch_ops.convert_leads(
            services, principal, name="Bench pages", lead_ids=[item.id for item in leads]
        )
        batch_id = batch["id"]
        mix = await shape_batch(services, batch_id, restaurants)
        setup_s = time.perf_counter() - started
        print(f"{kind}: {restaurants} restaurants ready in {setup_s:.1f} s: {mix}", file=sys.stderr)
        app = create_app(settings, services=services)
        pages = [
            ("batch page 1", f"/batches/{batch_id}", 'rel="next"'),
            ("batch page 11", f"/batches/{batch_id}?offset=500", 'rel="prev"'),
            (
                "batch filtered",
                f"/batches/{batch_id}?step=company_selection&status=action_required",
                "matching",
            ),
            ("batch failed", f"/batches/{batch_id}?status=failed", "matching"),
            ("batches", "/batches", "Bench pages"),
            ("actions", "/actions", "inbox-item"),
            ("actions of batch", f"/actions?batch_id={batch_id}", "inbox-item"),
            ("actions, selection", f"/actions?batch_id={batch_id}&step=company_selection", "inbox-item"),
        ]
        rows = []
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=120
        ) as client:
            await sign_in(client, user.email, password)
            for name, path, marker in pages:
                took = await timed(client, path, times, marker)
                rows.append(
                    {
                        "database": kind,
                        "page": name,
                        "path": path.replace(str(batch_id), "{id}"),
                        "p50": statistics.median(took),
                        "p95": percentile(took, 0.95),
                        "max": max(took),
                    }
                )
    finally:
        await close_services(services)
        drop_database(url)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--restaurants", type=int, default=1000)
    parser.add_argument("--times", type=int, default=30)
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.databases.split(","):
            rows.extend(asyncio.run(run_one(kind, args.restaurants, args.times, Path(tmp))))
    print(f"{args.restaurants} restaurants in one batch, {args.times} GETs per page")
    print("| database | page | path | p50 ms | p95 ms | max ms | under 500 ms |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        ok = "yes" if row["max"] < BUDGET_MS else "**no**"
        print(
            f"| {row['database']} | {row['page']} | `{row['path']}` | {row['p50']:.0f} | {row['p95']:.0f} "
            f"| {row['max']:.0f} | {ok} |"
        )


if __name__ == "__main__":
    main()
