"""The main pages fit a laptop (1280x800) and a tablet (768x1024): the page never scrolls sideways
(wide tables scroll inside their own box) and the main buttons are on screen. Tablet screenshots go
to ``docs/img/*-tablet.png``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.web.conftest import LiveServer, shoot, sign_in

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VIEWPORTS = {"laptop": {"width": 1280, "height": 800}, "tablet": {"width": 768, "height": 1024}}
LEADS = [
    {
        "name": f"Layout Bistro With A Rather Long Trading Name {i}",
        "address": f"{i} Karangahape Road",
        "city": "Auckland",
        "phone": f"09 555 03{i:02d}",
        "cuisine": "Modern New Zealand",
        "marketplace_url": f"https://marketplace.example/layout-bistro-{i}",
    }
    for i in range(1, 7)
]


def _api(server: LiveServer, method: str, path: str, **kwargs: Any) -> Any:
    r = httpx.request(method, f"{server.url}{path}", headers=server.headers, timeout=30, **kwargs)
    assert r.status_code in (200, 201), r.text
    return r.json()


def _waiting(server: LiveServer, batch_id: str, key: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 60
    while True:
        page = _api(server, "GET", f"/api/actions?batch_id={batch_id}&step_key={key}&limit=100")
        if page["total"] >= count:
            return list(page["items"])
        assert time.monotonic() < deadline, f"{key}: {page['total']} of {count} waiting"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def scene(live_server: LiveServer) -> dict[str, str]:
    """A batch with restaurants waiting at each of the three questions, and a failed queue job."""
    leads = _api(live_server, "POST", "/api/leads", json=LEADS)["items"]
    batch = _api(
        live_server,
        "POST",
        "/api/leads/convert",
        json={"name": "Layout batch", "lead_ids": [lead["id"] for lead in leads]},
    )
    searches = _waiting(live_server, batch["id"], "company_search", len(LEADS))
    _api(
        live_server,
        "POST",
        "/api/actions/bulk",
        json={"mode": "confirm_search_terms", "step_ids": [a["step_id"] for a in searches[:4]]},
    )
    selections = _waiting(live_server, batch["id"], "company_selection", 4)
    for action in selections[:2]:
        first = action["input"]["candidates"][0]["id"]
        _api(
            live_server, "POST", f"/api/actions/{action['step_id']}", json={"answer": {"candidate_id": first}}
        )
    _waiting(live_server, batch["id"], "yolo_config", 2)
    job = _api(
        live_server,
        "POST",
        "/api/jobs",
        json={"job_type": "noop", "payload": {"sleep_ms": -1}, "max_retries": 0},
    )
    deadline = time.monotonic() + 30
    while _api(live_server, "GET", f"/api/jobs/{job['id']}")["status"] != "failed":
        assert time.monotonic() < deadline, "the noop job did not fail"
        time.sleep(0.2)
    return {"batch_id": batch["id"], "restaurant_id": searches[0]["restaurant_id"]}


def _box(control: Any) -> dict[str, float] | None:
    """The control's box. A live refresh may replace the control between finding it and measuring
    it (a detached element has no box), so it is measured again on the fresh one."""
    deadline = time.monotonic() + 5
    while (box := control.bounding_box()) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    return box


def _pages(scene: dict[str, str]) -> list[tuple[str, str, Callable[[Any], list[Any]]]]:
    """(screenshot name, path, the page's main buttons and links)."""
    return [
        (
            "batches",
            "/batches",
            lambda p: [
                p.get_by_role("link", name="Layout batch"),
                p.get_by_role("link", name="Convert leads to a new batch →"),
            ],
        ),
        (
            "batch-detail",
            f"/batches/{scene['batch_id']}",
            lambda p: [
                p.get_by_role("button", name="Pause batch"),
                p.get_by_role("button", name="Cancel batch"),
                p.get_by_role("button", name="Filter"),
                p.get_by_role("link", name="Action inbox for this batch →"),
            ],
        ),
        (
            "inbox",
            f"/actions?batch_id={scene['batch_id']}",
            lambda p: [
                p.get_by_role("button", name="Confirm prefilled terms for selected"),
                p.get_by_role("button", name="Approve prefilled configuration for selected"),
                p.locator('section[data-group="company_selection"]')
                .locator(".candidate.suggested, .candidate.preselected")
                .get_by_role("button", name=re.compile("^Choose"))
                .first,
            ],
        ),
        (
            "restaurant",
            f"/restaurants/{scene['restaurant_id']}",
            lambda p: [p.get_by_role("button", name="Start Yolo Mode…").first],
        ),
        ("queue", "/queue", lambda p: [p.get_by_role("button", name=re.compile("^Retry job noop")).first]),
    ]


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_main_pages_fit_the_width_without_sideways_scrolling_and_show_their_main_buttons(
    chromium: Any, live_server: LiveServer, scene: dict[str, str], viewport: str
) -> None:
    size = VIEWPORTS[viewport]
    context = chromium.new_context(viewport=size, base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        sign_in(page, live_server, "/batches")
        for name, path, main_controls in _pages(scene):
            page.goto(path)
            widths = page.evaluate(
                "({scroll: document.documentElement.scrollWidth, inner: window.innerWidth,"
                " body: document.body.scrollWidth})"
            )
            assert widths["scroll"] <= widths["inner"], f"{path} scrolls sideways at {viewport}: {widths}"
            assert widths["body"] <= widths["inner"], f"{path} body is wider than {viewport}: {widths}"
            for control in main_controls(page):
                expect(control).to_be_visible()
                box = _box(control)  # not scrolled into view: a box that hides it sideways counts
                assert box is not None, f"{path}: {control} has no box"
                assert box["x"] >= 0, f"{path}: {control} is off screen at {viewport}: {box}"
                assert box["x"] + box["width"] <= size["width"], (
                    f"{path}: {control} is off screen at {viewport}: {box}"
                )
            if viewport == "tablet":
                shoot(page, f"{name}-tablet")
    finally:
        context.close()
