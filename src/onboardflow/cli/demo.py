"""`onboardflow demo`: a sample batch run end to end on the simulated services, with progress bars."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Annotated, Any
from uuid import UUID

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from onboardflow.config import Settings, load_settings
from onboardflow.domain.batches import BulkMode
from onboardflow.domain.leads import LeadInput
from onboardflow.domain.pipeline import PIPELINE_STEPS
from onboardflow.domain.records import Principal
from onboardflow.domain.statuses import UserRole
from onboardflow.logs import configure_logging
from onboardflow.operations import accounts, actions, batches, leads
from onboardflow.operations.services import Services, build_services, close_services
from onboardflow.runtime.worker import Worker
from onboardflow.store import migrate

console = Console()

_FIRST = ("Golden", "Little", "Red", "Blue", "Happy", "Green", "Old", "Spicy", "Lucky", "Silver")
_SECOND = ("Dragon", "Lotus", "Harbour", "Garden", "Kiwi", "Olive", "Tiger", "Bamboo", "Fern", "Anchor")
_KIND = ("Pizza", "Sushi", "Curry House", "Burger Bar", "Noodle Bar", "Taqueria", "Bakery", "Thai Kitchen")
_STREETS = ("Queen Street", "Ponsonby Road", "Cuba Street", "Colombo Street", "George Street")
_CITIES = ("Auckland", "Wellington", "Christchurch", "Dunedin", "Hamilton")
FINAL = ("completed", "failed", "cancelled")


def demo_lead(index: int) -> LeadInput:
    """A distinct, realistic lead."""
    name = f"{_FIRST[index % 10]} {_SECOND[(index // 10) % 10]} {_KIND[(index * 7) % len(_KIND)]}"
    if index >= 100:
        name += f" {index // 100 + 1}"
    slug = name.lower().replace(" ", "-")
    city = _CITIES[index % len(_CITIES)]
    return LeadInput(
        name=name,
        address=f"{10 + index} {_STREETS[index % len(_STREETS)]}, {city}",
        city=city,
        phone=f"09 {100 + index % 900} {4000 + index % 5000}",
        cuisine=_KIND[(index * 7) % len(_KIND)],
        marketplace_url=f"https://www.ubereats.com/nz/store/{slug}",  # type: ignore[arg-type,unused-ignore]
    )


def demo_config(index: int) -> dict[str, Any]:
    """The operator's Yolo Mode answer for one restaurant (merged with its prefilled configuration)."""
    return {
        "account": {"email": f"owner{index}@example.co.nz", "password": secrets.token_urlsafe(12)},
        "restaurant": {"email": f"hello{index}@example.co.nz"},
        "payment": {"provider": "cash"},
    }


async def _answer_waiting(
    services: Services, principal: Principal, batch_id: UUID, answered: set[UUID]
) -> int:
    """Answer what waits as an operator would; returns the requests it took."""
    requests = 0
    for mode in (BulkMode.CONFIRM_SEARCH_TERMS, BulkMode.ACCEPT_PRESELECTED):
        waiting = await actions.list_actions(
            services, principal, batch_id=batch_id, step_key=mode_step(mode), limit=500, offset=0
        )
        fresh = [a for a in waiting["items"] if a["step_id"] not in answered]
        if mode is BulkMode.ACCEPT_PRESELECTED:
            fresh = [a for a in fresh if a["input"].get("preselected_candidate_id")]
        if fresh:
            await actions.bulk_answer_actions(
                services, principal, mode=mode, step_ids=[a["step_id"] for a in fresh]
            )
            answered.update(a["step_id"] for a in fresh)
            requests += 1
    unclear = await actions.list_actions(
        services, principal, batch_id=batch_id, step_key="company_selection", limit=500, offset=0
    )
    for action in unclear["items"]:
        if action["step_id"] in answered or action["input"].get("preselected_candidate_id"):
            continue
        candidates = action["input"].get("candidates") or []
        answer: dict[str, Any] = (
            {"candidate_id": str(candidates[0]["id"])} if candidates else {"none_of_these": True}
        )
        await actions.answer_action(services, principal, action["step_id"], answer)
        answered.add(action["step_id"])
        requests += 1
    configs = await actions.list_actions(
        services, principal, batch_id=batch_id, step_key="yolo_config", limit=500, offset=0
    )
    fresh = [a for a in configs["items"] if a["step_id"] not in answered]
    if fresh:
        items = [
            {"step_id": a["step_id"], "answer": demo_config(n)} for n, a in enumerate(fresh, len(answered))
        ]
        await actions.bulk_answer_actions(services, principal, mode=BulkMode.ANSWERS, items=items)
        answered.update(a["step_id"] for a in fresh)
        requests += 1
    return requests


def mode_step(mode: BulkMode) -> str:
    return {"confirm_search_terms": "company_search", "accept_preselected": "company_selection"}[mode.value]


async def run_demo(settings: Settings, restaurants: int) -> tuple[dict[str, Any], int, float]:
    """Create, convert and carry a demo batch to the end; returns the batch, requests made and seconds."""
    services = build_services(settings)
    worker = Worker(services.runtime_deps(), services.registry)
    worker_task = asyncio.create_task(worker.run())
    started = time.monotonic()
    try:
        name = f"Demo {time.strftime('%Y-%m-%d %H:%M:%S')}"
        org = await accounts.create_organisation(services, name)
        user, _password = await accounts.create_user(
            services,
            organisation=name,
            email=f"operator+{org.id.hex[:8]}@demo.onboardflow.local",
            role=UserRole.ADMIN,
        )
        principal = Principal(organisation_id=org.id, role=UserRole.ADMIN, user_id=user.id)
        imported = await leads.import_leads(services, principal, [demo_lead(i) for i in range(restaurants)])
        batch = await batches.convert_leads(
            services, principal, name="Demo batch", lead_ids=[lead.id for lead in imported]
        )
        batch_id = UUID(str(batch["id"]))
        requests, answered = 0, set[UUID]()
        with Progress(
            TextColumn("{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            bars = {s.key: progress.add_task(s.label, total=restaurants) for s in PIPELINE_STEPS}
            while True:
                summary = await batches.get_batch(services, principal, batch_id)
                for key, bar in bars.items():
                    counts = summary["counts_by_step"].get(key, {})
                    done = sum(
                        counts.get(status, 0) for status in ("completed", "skipped", "failed", "cancelled")
                    )
                    progress.update(bar, completed=done)
                if summary["status"] in FINAL:
                    break
                requests += await _answer_waiting(services, principal, batch_id, answered)
                await asyncio.sleep(0.3)
        return summary, requests, time.monotonic() - started
    finally:
        worker.stop()
        await worker_task
        await close_services(services)


def demo(
    restaurants: Annotated[int, typer.Option(help="How many leads to onboard.", min=1, max=1000)] = 20,
    keep_open: Annotated[
        bool, typer.Option("--keep-open", help="Then serve the web UI to look at the result.")
    ] = False,
    host: Annotated[str, typer.Option(help="Address for --keep-open.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port for --keep-open.")] = 8000,
) -> None:
    """Onboard a sample batch end to end on the simulated services, answering as an operator would."""
    settings = load_settings()
    configure_logging("WARNING")
    migrate.upgrade(settings.database_url)
    summary, requests, seconds = asyncio.run(run_demo(settings, restaurants))
    table = Table(
        title=f"{summary['name']}: {summary['status']} in {seconds:.1f} s, {requests} operator requests"
    )
    table.add_column("step")
    statuses = ("completed", "skipped", "failed", "action_required", "in_progress", "pending")
    for status in statuses:
        table.add_column(status, justify="right")
    for step in PIPELINE_STEPS:
        counts = summary["counts_by_step"].get(step.key, {})
        table.add_row(step.label, *(str(counts.get(s, 0)) for s in statuses))
    console.print(table)
    console.print(f"restaurants by status: {summary['counts_by_status']}")
    if keep_open:
        from onboardflow.cli.main import serve

        serve(host=host, port=port)
