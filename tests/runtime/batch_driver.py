"""A batch service for tests: the API in-process and a real worker on the simulated services, for one
organisation, with the operator's requests as the acceptance criteria count them."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import httpx
import sqlalchemy as sa

from onboardflow.adapters.companies.simulated import has_clear_match
from onboardflow.config import Settings
from onboardflow.operations.services import Services, build_services, close_services
from onboardflow.runtime.worker import Worker
from onboardflow.store.engine import Database
from tests.conftest import Tenant
from tests.runtime.waiting import wait_for

_FIRST = (
    "Golden",
    "Little",
    "Happy",
    "Blue",
    "Red",
    "Green",
    "Spicy",
    "Lucky",
    "Royal",
    "Silver",
    "Urban",
    "Old",
    "Sunny",
    "Wild",
    "Coastal",
    "Northern",
    "Southern",
    "Grand",
    "Hidden",
    "Corner",
)
_SECOND = (
    "Dragon",
    "Lotus",
    "Fern",
    "Kiwi",
    "Harbour",
    "Garden",
    "Lantern",
    "Tiger",
    "Olive",
    "Pepper",
    "Saffron",
    "Maple",
    "Pohutukawa",
    "Bamboo",
    "Anchor",
)
_KIND = ("Pizza", "Kitchen", "Cafe", "Sushi", "Burgers", "Curry", "Thai", "Bakery", "Grill", "Bar")
_STREETS = (
    "Queen Street",
    "Ponsonby Road",
    "Dominion Road",
    "Cuba Street",
    "Colombo Street",
    "George Street",
)
_CITIES = ("Auckland", "Auckland", "Auckland", "Wellington", "Christchurch", "Dunedin")  # fmt: skip

CONFIG = {"account": {"password": "batch-pass-123"}, "payment": {"provider": "cash"}}
EMAIL_CONFIG = {  # for restaurants whose company was not chosen, so no email is known
    **CONFIG,
    "account": {**CONFIG["account"], "email": "owner@example.co.nz"},
    "restaurant": {"email": "owner@example.co.nz"},
}


def lead(index: int) -> dict[str, Any]:
    """A distinct, realistic lead."""
    first = _FIRST[index % len(_FIRST)]
    second = _SECOND[(index // len(_FIRST)) % len(_SECOND)]
    kind = _KIND[(index * 7) % len(_KIND)]
    name = f"{first} {second} {kind}"
    street = _STREETS[index % len(_STREETS)]
    slug = name.lower().replace(" ", "-")
    return {
        "name": name,
        "address": f"{10 + index} {street}, {_CITIES[index % len(_CITIES)]}",
        "city": _CITIES[index % len(_CITIES)],
        "phone": f"09 {100 + index} {4000 + index}",
        "cuisine": kind,
        "marketplace_url": f"https://www.ubereats.com/nz/store/{slug}-{index}",
    }


class Batch:
    """A running service (API client and worker) for one organisation, counting answer requests."""

    def __init__(self, services: Services, client: httpx.AsyncClient, tenant: Tenant) -> None:
        self.services = services
        self.client = client
        self.tenant = tenant
        self.answer_requests = 0

    async def get(self, url: str, **params: Any) -> Any:
        r = await self.client.get(url, params=params, headers=self.tenant.headers)
        assert r.status_code == 200, r.text
        return r.json()

    async def post(self, url: str, body: Any = None, *, expect: int = 200) -> Any:
        if url.startswith("/api/actions"):
            self.answer_requests += 1
        r = await self.client.post(url, json=body, headers=self.tenant.headers)
        assert r.status_code == expect, r.text
        return r.json()

    async def convert(self, count: int, **settings: Any) -> tuple[str, list[str]]:
        leads = await self.post("/api/leads", [lead(i) for i in range(count)], expect=201)
        ids = [item["id"] for item in leads["items"]]
        batch = await self.post(
            "/api/leads/convert", {"name": "Batch", "lead_ids": ids, "settings": settings}, expect=201
        )
        return batch["id"], [item["name"] for item in leads["items"]]

    async def waiting(self, batch_id: str, step_key: str) -> int:
        page = await self.get("/api/actions", batch_id=batch_id, step_key=step_key, limit=1)
        return int(page["total"])

    async def until_waiting(self, batch_id: str, step_key: str, count: int, timeout: float = 60) -> None:
        async def check() -> bool:
            return await self.waiting(batch_id, step_key) == count

        await wait_for(check, timeout=timeout, what=f"{count} steps waiting at {step_key}")

    async def batch(self, batch_id: str, **params: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.get(f"/api/registration-batches/{batch_id}", **params)
        return result

    async def until_final(self, batch_id: str, timeout: float = 120) -> dict[str, Any]:
        async def check() -> bool:
            return (await self.batch(batch_id, limit=1))["status"] in ("completed", "failed", "cancelled")

        await wait_for(check, timeout=timeout, interval=0.2, what="the batch to finish")
        return await self.batch(batch_id, limit=500)

    async def answer_everything(self, batch_id: str, count: int, names: list[str]) -> None:
        """The acceptance criterion's operator requests: bulk confirm, bulk accept plus one answer per
        unclear match, bulk configuration."""
        await self.until_waiting(batch_id, "company_search", count)
        confirmed = await self.post(
            "/api/actions/bulk", {"mode": "confirm_search_terms", "batch_id": batch_id}
        )
        assert confirmed["succeeded"] == count, confirmed
        await self.until_waiting(batch_id, "company_selection", count)
        accepted = await self.post("/api/actions/bulk", {"mode": "accept_preselected", "batch_id": batch_id})
        unclear = [name for name in names if not has_clear_match(name)]
        assert accepted["succeeded"] == count - len(unclear), accepted
        assert accepted["failed"] == len(unclear)
        assert {item["field"] for item in accepted["items"] if not item["ok"]} <= {"candidate_id"}
        waiting = await self.get("/api/actions", batch_id=batch_id, step_key="company_selection", limit=500)
        assert waiting["total"] == len(unclear)
        for action in waiting["items"]:
            candidates = action["input"]["candidates"]
            assert action["input"]["preselected_candidate_id"] is None
            first = next(c for c in candidates if "(No. 1)" in c["name"])
            await self.post(f"/api/actions/{action['step_id']}", {"answer": {"candidate_id": first["id"]}})
        await self.until_waiting(batch_id, "yolo_config", count)
        applied = await self.post(
            "/api/actions/bulk", {"mode": "apply_config", "batch_id": batch_id, "config": CONFIG}
        )
        assert applied["succeeded"] == count, applied


async def start_service(
    settings: Settings, faults: dict[str, Any] | None = None, **more: Any
) -> tuple[Services, Worker, asyncio.Task[None]]:
    services = build_services(
        settings.model_copy(update={"simulation_faults": faults or {}, "pumpd_concurrency": 10, **more})
    )
    worker = Worker(services.runtime_deps(), services.registry, concurrency=16)
    return services, worker, asyncio.create_task(worker.run())


async def stop_service(services: Services, worker: Worker, task: asyncio.Task[None]) -> None:
    worker.stop()
    await task
    await close_services(services)


async def rows(db: Database, sql: str, **params: Any) -> list[Any]:
    """The rows ``sql`` reads; a UUID parameter is bound as one (SQLite keeps UUIDs as hex text)."""
    query = sa.text(sql).bindparams(
        *(sa.bindparam(name, type_=sa.Uuid()) for name, value in params.items() if isinstance(value, UUID))
    )
    async with db.read() as conn:
        return list((await conn.execute(query, params)).all())
