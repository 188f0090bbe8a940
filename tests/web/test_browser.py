"""The operator's pages in a real headless Chromium against a real `onboardflow serve`.

The tests run in file order on one server and one signed-in browser page, like an operator's session,
and save a screenshot of each page to ``docs/img/`` for the user guide.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.web.conftest import LiveServer, shoot

playwright_api = pytest.importorskip("playwright.sync_api")
Page = playwright_api.Page
expect = playwright_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 860}
LEADS_CSV = "name,address,city,phone,cuisine,marketplace_url\n" + "".join(
    f"Lead Kitchen {i:02d},{i} Queen Street,Auckland,09 555 01{i:02d},Thai,"
    f"https://marketplace.example/lead-kitchen-{i:02d}\n"
    for i in range(1, 21)
)


@pytest.fixture(scope="module")
def page(live_server: LiveServer) -> Iterator[Page]:
    if not CHROMIUM.exists():
        pytest.skip("the system Chromium (/usr/bin/chromium) is not installed")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url)
        context.set_default_timeout(15_000)
        tab = context.new_page()
        try:
            yield tab
        finally:
            context.close()
            browser.close()


def test_sign_in_leads_to_the_overview(page: Page, live_server: LiveServer) -> None:
    page.goto("/leads")
    expect(page).to_have_url(re.compile(r"/login\?next=/leads"))
    page.get_by_label("Email").fill(live_server.email)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    page.get_by_label("Password").fill(live_server.password)
    shoot(page, "sign-in")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/leads$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Leads")


def test_a_bad_csv_names_the_field_and_a_good_one_imports_every_lead(page: Page, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("city\nAuckland\n")
    good = tmp_path / "leads.csv"
    good.write_text(LEADS_CSV)
    page.goto("/leads")
    page.get_by_label("CSV file", exact=True).set_input_files(str(bad))
    page.get_by_role("button", name="Import leads").click()
    expect(page.get_by_role("alert")).to_contain_text("file")
    expect(page.get_by_label("CSV file", exact=True)).to_have_attribute("aria-invalid", "true")
    page.get_by_label("CSV file", exact=True).set_input_files(str(good))
    page.get_by_role("button", name="Import leads").click()
    expect(page.get_by_role("status")).to_contain_text("Imported 20 leads")
    expect(page.locator("tbody tr")).to_have_count(20)
    page.get_by_label("Select all on this page").check()
    expect(page.get_by_text("20 selected")).to_be_visible()
    shoot(page, "leads")


def _create_restaurant(live_server: LiveServer) -> str:
    r = httpx.post(
        f"{live_server.url}/api/restaurants",
        json={
            "name": "Joe's Pizza",
            "address": "12 Queen Street",
            "city": "Auckland",
            "phone": "09 123 4567",
            "email": "hello@joespizza.example",
            "cuisine": "Pizza",
            "marketplace_url": "https://marketplace.example/joes-pizza",
            "contact_name": "Joe Bloggs",
            "contact_email": "joe@joespizza.example",
        },
        headers=live_server.headers,
    )
    assert r.status_code == 201, r.text
    restaurant_id = str(r.json()["id"])
    job = httpx.post(
        f"{live_server.url}/api/jobs",
        json={"job_type": "extract-menu", "restaurant_id": restaurant_id},
        headers=live_server.headers,
    ).json()
    wait_for_job(live_server, job["id"], "completed")
    return restaurant_id


def wait_for_job(live_server: LiveServer, job_id: str, status: str) -> None:
    deadline = time.monotonic() + 30
    while (
        httpx.get(f"{live_server.url}/api/jobs/{job_id}", headers=live_server.headers).json()["status"]
        != status
    ):
        assert time.monotonic() < deadline, f"job {job_id} did not become {status}"
        time.sleep(0.2)


def test_yolo_mode_runs_on_after_the_dialog_closes_and_the_card_finishes(
    page: Page, live_server: LiveServer
) -> None:
    restaurant_id = _create_restaurant(live_server)
    page.goto("/restaurants")
    shoot(page, "restaurants")
    page.get_by_role("link", name="Joe's Pizza").click()
    card = page.locator("#setup-card")
    expect(card).to_contain_text("not started")

    page.get_by_role("button", name="Start Yolo Mode…").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("textbox", name="Name", exact=True)).to_have_value("Joe's Pizza")
    expect(dialog.get_by_role("textbox", name="Account email")).to_have_value("joe@joespizza.example")
    shoot(page, "yolo-dialog", full_page=False)

    dialog.get_by_role("textbox", name="Account phone").fill("not a phone")
    dialog.get_by_role("button", name="Start registration").click()
    expect(dialog.get_by_role("textbox", name="Account phone")).to_have_attribute("aria-invalid", "true")
    expect(dialog.locator("#yolo-account-phone-error")).to_contain_text("phone number")
    expect(dialog.locator("[data-form-errors]")).to_contain_text("account.phone")
    shoot(page, "yolo-dialog-error", full_page=False)

    dialog.get_by_role("textbox", name="Account phone").fill("+64 21 555 0101")
    dialog.get_by_role("button", name="Start registration").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("status").filter(has_text="Yolo Mode started")).to_be_visible()
    expect(card.get_by_text(re.compile(r"sub-steps finished"))).to_be_visible()
    shoot(page, "restaurant-running")

    page.get_by_role("link", name="Queue").click()
    expect(page.get_by_role("heading", name="Queue dashboard")).to_be_visible()
    page.go_back()
    expect(page).to_have_url(re.compile(restaurant_id))
    card = page.locator("#setup-card")
    expect(card).to_have_attribute("data-live-status", "completed", timeout=60_000)
    expect(card.locator(".card-head .chip")).to_have_text(re.compile("completed"))
    expect(card).to_contain_text("100%")
    shoot(page, "restaurant-completed")


def test_a_failed_job_is_retried_from_the_dashboard(page: Page, live_server: LiveServer) -> None:
    r = httpx.post(
        f"{live_server.url}/api/jobs",
        json={"job_type": "noop", "payload": {"sleep_ms": -1}, "max_retries": 0},
        headers=live_server.headers,
    )
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    wait_for_job(live_server, job_id, "failed")

    page.goto("/queue")
    row = page.locator(f'tr[data-job-id="{job_id}"]')
    expect(row).to_contain_text("sleep_ms")
    shoot(page, "queue")
    row.get_by_role("button", name=re.compile("^Retry job")).click()
    expect(page.get_by_role("status")).to_contain_text("was queued again")
    feed = httpx.get(f"{live_server.url}/api/events/stream?after=0", headers=live_server.headers).json()
    moves = [(e["from_status"], e["to_status"]) for e in feed["events"] if e["entity_id"] == job_id]
    assert ("failed", "queued") in moves, moves


def _wait_for_group(page: Page, key: str, count: int, timeout_ms: int = 60_000) -> None:
    """Wait until the inbox shows ``count`` steps of ``key`` (it refreshes by itself)."""
    group = page.locator(f'section[data-group="{key}"] .inbox-item')
    expect(group).to_have_count(count, timeout=timeout_ms)


def test_twenty_leads_become_a_batch_answered_in_bulk_and_the_grid_completes_live(
    page: Page, live_server: LiveServer
) -> None:
    page.goto("/leads")
    page.get_by_label("Select all on this page").check()
    page.get_by_role("button", name="Convert selected to a batch").click()
    expect(page).to_have_url(re.compile(r"/batches/[0-9a-f-]{36}$"))
    batch_url = page.url
    expect(page.locator("#batch-grid tbody.grid-row")).to_have_count(20)

    page.get_by_role("link", name="Action inbox for this batch →").click()
    batch_id = batch_url.rsplit("/", 1)[-1]
    deadline = time.monotonic() + 60
    while _batch(live_server, batch_id)["counts_by_step"]["company_search"].get("action_required", 0) < 20:
        assert time.monotonic() < deadline, _batch(live_server, batch_id)
        time.sleep(0.3)
    _wait_for_group(page, "company_search", 20, timeout_ms=15_000)
    shoot(page, "inbox-search", full_page=False)
    search = page.locator('section[data-group="company_search"]')
    expect(search.get_by_label("Select all")).to_be_checked()
    search.get_by_role("button", name="Confirm prefilled terms for selected").click()
    expect(page.get_by_role("status").filter(has_text="Answered 20 of 20")).to_be_visible()

    # Clear matches were confirmed automatically; the rest wait for a choice, one click each.
    selection = page.locator('section[data-group="company_selection"]')
    config = page.locator('section[data-group="yolo_config"]')
    deadline = time.monotonic() + 60
    while config.locator(".inbox-item").count() + _finished(live_server, batch_url) < 20:
        assert time.monotonic() < deadline, "the batch did not reach the configuration step"
        if selection.locator(".inbox-item").count():
            shoot(page, "inbox-selection", full_page=False)
            step_id = selection.locator(".inbox-item").first.get_attribute("data-step-id")
            item = selection.locator(f'.inbox-item[data-step-id="{step_id}"]')
            item.locator(".candidate.suggested, .candidate.preselected").get_by_role(
                "button", name=re.compile("^Choose")
            ).click()
            expect(item).to_have_count(0)
        else:
            page.wait_for_timeout(300)
    shoot(page, "inbox-config", full_page=False)
    expect(config.get_by_label("Select all")).to_be_checked()
    config.get_by_role("button", name="Approve prefilled configuration for selected").click()
    notice = page.locator("#notices .notice").last
    expect(notice).to_contain_text(re.compile(r"Answered \d+ of \d+"))
    shoot(page, "inbox-config-answered", full_page=False)
    assert "Not answered" not in (notice.text_content() or ""), notice.text_content()

    page.goto(batch_url)
    grid = page.locator("#batch-grid")
    shoot(page, "batch-running")
    expect(grid).to_have_attribute("data-live-status", re.compile("completed|failed"), timeout=90_000)
    expect(grid.locator(".card-head .chip")).to_have_text(re.compile("completed|failed"))
    grid.locator("tbody.grid-row summary").first.click()
    expect(grid.locator("tr.sub-row").first).to_contain_text("Create account")
    shoot(page, "batch-detail")
    page.goto("/batches")
    shoot(page, "batches")


def _batch(live_server: LiveServer, batch_id: str) -> dict[str, Any]:
    r = httpx.get(f"{live_server.url}/api/registration-batches/{batch_id}", headers=live_server.headers)
    assert r.status_code == 200, r.text
    batch: dict[str, Any] = r.json()
    return batch


def _finished(live_server: LiveServer, batch_url: str) -> int:
    batch = _batch(live_server, batch_url.rsplit("/", 1)[-1])
    return sum(batch["counts_by_status"].get(s, 0) for s in ("completed", "failed", "cancelled"))
