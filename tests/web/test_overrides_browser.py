"""An admin's overrides of failed steps from the batch grid, in a real Chromium against a real
`onboardflow serve` whose simulated menu extraction rejects its first two calls: one restaurant's
extraction is skipped with a reason, the other's is re-run from another menu page."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.web.conftest import LiveServer, serving, shoot, sign_in

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MENU_FAILS_TWICE = {
    "latency_ms": 50,
    "rules": [{"service": "extraction", "operation": "extract_menu", "kind": "validation_error", "times": 2}],
}


@pytest.fixture(scope="module")
def failing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serving(tmp_path_factory.mktemp("overrides"), faults=MENU_FAILS_TWICE) as server:
        yield server


def _api(server: LiveServer, method: str, path: str, body: Any = None) -> Any:
    r = httpx.request(method, f"{server.url}{path}", json=body, headers=server.headers, timeout=30)
    assert r.status_code < 300, r.text
    return r.json()


def test_an_admin_skips_one_failed_extraction_and_reruns_another_from_the_grid(
    chromium: Any, failing_server: LiveServer
) -> None:
    leads = [
        {"name": f"Override Kitchen {i}", "address": f"{i} Cuba Street, Wellington", "city": "Wellington",
         "marketplace_url": f"https://marketplace.example/override-kitchen-{i}"}
        for i in (1, 2)
    ]  # fmt: skip
    ids = [item["id"] for item in _api(failing_server, "POST", "/api/leads", leads)["items"]]
    batch_id = _api(failing_server, "POST", "/api/leads/convert", {"name": "Overrides", "lead_ids": ids})[
        "id"
    ]
    deadline = time.monotonic() + 30
    while (
        _api(failing_server, "GET", f"/api/registration-batches/{batch_id}")["counts_by_status"].get("failed")
        != 2
    ):
        assert time.monotonic() < deadline, "both extractions should fail"
        time.sleep(0.2)

    context = chromium.new_context(viewport={"width": 1280, "height": 860}, base_url=failing_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        sign_in(page, failing_server, f"/batches/{batch_id}")
        grid = page.locator("#batch-grid")
        first, second = (
            grid.locator("tbody.grid-row").filter(has_text=f"Override Kitchen {i}") for i in (1, 2)
        )
        first.locator("details.override summary").click()
        first.get_by_label("Reason").fill("no menu online; the owner sends it")
        shoot(page, "batch-override", full_page=False)
        first.get_by_role("button", name="Skip step").click()
        expect(page.get_by_role("status").filter(has_text="was skipped")).to_be_visible()
        expect(first.locator("td").nth(0)).to_contain_text("no menu online; the owner sends it")

        second.locator("details.override summary").click()
        second.get_by_role("button", name="Re-run step").click()  # no reason: the browser asks for one
        expect(page.get_by_role("status").filter(has_text="runs again")).to_have_count(0)
        second.get_by_label("Reason").fill("the menu moved")
        second.get_by_label("Menu page URL (re-run)").fill("https://menus.example.co.nz/override-kitchen-2")
        second.get_by_role("button", name="Re-run step").click()
        expect(page.get_by_role("status").filter(has_text="runs again")).to_be_visible()
        # Both carry on to the company search, which waits for the operator; the grid follows live.
        expect(grid.locator("tbody.grid-row td", has_text="action required")).to_have_count(2, timeout=30_000)
    finally:
        context.close()

    detail = _api(failing_server, "GET", f"/api/registration-batches/{batch_id}")
    assert detail["counts_by_step"]["extraction"] == {"skipped": 1, "completed": 1}
    rerun = next(r for r in detail["restaurants"]["items"] if r["restaurant_name"] == "Override Kitchen 2")
    restaurant = _api(failing_server, "GET", f"/api/restaurants/{rerun['restaurant_id']}")
    assert restaurant["menu"]["categories"]
