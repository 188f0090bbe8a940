"""The batch page of a batch larger than one page: paged, and its filters still work (plain HTTP
against the app; the server-time budget of a 1,000-restaurant batch is measured by bench/pages.py)."""

from __future__ import annotations

import re
from uuid import UUID

import httpx
import sqlalchemy as sa

from onboardflow.api.app import create_app
from onboardflow.config import Settings
from onboardflow.domain.statuses import UserRole
from onboardflow.operations import accounts
from onboardflow.operations.services import Services
from onboardflow.web.batches import ROWS_PER_PAGE
from tests.conftest import Tenant

RESTAURANTS = ROWS_PER_PAGE + 12
ROW = re.compile(r'<tbody class="grid-row"')


async def _sign_in(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await _sign_in_as(client, tenant.email, tenant.password)


async def _sign_in_as(client: httpx.AsyncClient, email: str, password: str) -> None:
    page = await client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, page.text
    r = await client.post("/login", data={"email": email, "password": password, "csrf": csrf.group(1)})
    assert r.status_code == 303, r.text


async def _batch(client: httpx.AsyncClient, tenant: Tenant) -> str:
    leads = await client.post(
        "/api/leads",
        json=[{"name": f"Paged Diner {i:03d}", "city": "Auckland"} for i in range(RESTAURANTS)],
        headers=tenant.headers,
    )
    assert leads.status_code == 201, leads.text
    batch = await client.post(
        "/api/leads/convert",
        json={"name": "Paged", "lead_ids": [lead["id"] for lead in leads.json()["items"]]},
        headers=tenant.headers,
    )
    assert batch.status_code == 201, batch.text
    return str(batch.json()["id"])


def _names(html: str) -> list[str]:
    return re.findall(r">(Paged Diner \d{3})</a>", html)


async def test_a_batch_larger_than_a_page_shows_one_page_of_rows_and_paging_controls(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    batch_id = await _batch(client, tenant)
    await _sign_in(client, tenant)

    first = await client.get(f"/batches/{batch_id}")
    assert first.status_code == 200, first.text
    assert len(ROW.findall(first.text)) == ROWS_PER_PAGE
    assert _names(first.text) == [f"Paged Diner {i:03d}" for i in range(ROWS_PER_PAGE)]
    assert f"1\N{EN DASH}{ROWS_PER_PAGE} of {RESTAURANTS}" in first.text
    assert f'href="/batches/{batch_id}?offset={ROWS_PER_PAGE}" rel="next"' in first.text
    assert 'rel="prev"' not in first.text

    second = await client.get(f"/batches/{batch_id}?offset={ROWS_PER_PAGE}")
    assert len(ROW.findall(second.text)) == RESTAURANTS - ROWS_PER_PAGE
    assert _names(second.text) == [f"Paged Diner {i:03d}" for i in range(ROWS_PER_PAGE, RESTAURANTS)]
    assert f'href="/batches/{batch_id}?offset=0" rel="prev"' in second.text
    assert 'rel="next"' not in second.text

    # The live fragment the page re-fetches is paged the same way.
    grid = await client.get(f"/batches/{batch_id}/grid?offset={ROWS_PER_PAGE}")
    assert len(ROW.findall(grid.text)) == RESTAURANTS - ROWS_PER_PAGE


async def test_filters_of_a_paged_batch_select_rows_across_pages_and_keep_the_filter_when_paging(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    batch_id = await _batch(client, tenant)
    detail = await client.get(
        f"/api/registration-batches/{batch_id}?limit={RESTAURANTS}", headers=tenant.headers
    )
    rows = detail.json()["restaurants"]["items"]
    # Cancel one restaurant on the first page and two on the second.
    cancelled = [rows[3], rows[ROWS_PER_PAGE + 1], rows[ROWS_PER_PAGE + 5]]
    for row in cancelled:
        r = await client.post(
            f"/api/registration-jobs/{row['registration_job_id']}/cancel", headers=tenant.headers
        )
        assert r.status_code == 200, r.text
    await _sign_in(client, tenant)

    only = await client.get(f"/batches/{batch_id}?status=cancelled")
    assert only.status_code == 200
    assert _names(only.text) == [row["restaurant_name"] for row in cancelled]
    assert "3 matching" in only.text
    assert 'class="pager"' not in only.text

    pending = await client.get(f"/batches/{batch_id}?status=pending")
    assert len(ROW.findall(pending.text)) == ROWS_PER_PAGE
    assert f"{RESTAURANTS - 3} matching" in pending.text
    assert f'href="/batches/{batch_id}?status=pending&amp;offset={ROWS_PER_PAGE}" rel="next"' in pending.text
    rest = await client.get(f"/batches/{batch_id}?status=pending&offset={ROWS_PER_PAGE}")
    assert len(ROW.findall(rest.text)) == RESTAURANTS - 3 - ROWS_PER_PAGE
    assert not {row["restaurant_name"] for row in cancelled} & set(_names(rest.text))

    by_step = await client.get(f"/batches/{batch_id}?step=extraction&status=cancelled")
    assert _names(by_step.text) == [row["restaurant_name"] for row in cancelled]
    none = await client.get(f"/batches/{batch_id}?step=company_search&status=action_required")
    assert "No restaurant matches these filters." in none.text


async def test_only_an_admin_is_offered_the_override_of_a_failed_step(
    client: httpx.AsyncClient, tenant: Tenant, services: Services, settings: Settings
) -> None:
    batch_id = await _batch(client, tenant)
    detail = await client.get(f"/api/registration-batches/{batch_id}", headers=tenant.headers)
    first_row = detail.json()["restaurants"]["items"][0]  # on the page's first page
    async with services.db.write() as conn:
        failing = sa.text(
            "UPDATE registration_job_steps SET status = 'failed', error_message = 'menu page not found' "
            "WHERE id = :id"
        ).bindparams(sa.bindparam("id", type_=sa.Uuid()))
        await conn.execute(failing, {"id": UUID(first_row["steps"]["extraction"]["id"])})
    await _sign_in(client, tenant)
    admin_view = (await client.get(f"/batches/{batch_id}")).text
    assert admin_view.count("data-override-step=") == 1
    assert "Menu page URL" in admin_view

    _user, password = await accounts.create_user(
        services, organisation=tenant.name, email="member@org-a.test", role=UserRole.MEMBER
    )
    app = create_app(settings, services=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as member:
        await _sign_in_as(member, "member@org-a.test", password)
        member_view = (await member.get(f"/batches/{batch_id}")).text
    assert "menu page not found" in member_view
    assert "data-override-step=" not in member_view
