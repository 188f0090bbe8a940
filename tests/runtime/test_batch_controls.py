"""What an operator does to batches besides answering, through the API with a real worker: converting
(by ids, by a filter, leads already converted), batches of existing restaurants, cancel, pause and
resume, the action queue's filters, the batch list's pages, and an admin's overrides of failed steps."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest

from onboardflow.domain.statuses import UserRole
from onboardflow.operations import accounts
from tests.runtime.batch_driver import Batch, lead, rows
from tests.runtime.waiting import wait_for


async def _leads(running: Batch, items: list[dict[str, Any]]) -> list[str]:
    created = await running.post("/api/leads", items, expect=201)
    return [item["id"] for item in created["items"]]


async def _counts(running: Batch, sql: str, **params: Any) -> int:
    ((count,),) = await rows(running.services.db, sql, **params)
    return int(count)


async def test_leads_already_converted_are_refused_by_id_and_nothing_is_created(running: Batch) -> None:
    first, second, third = await _leads(running, [lead(0), lead(1), lead(2)])
    await running.post("/api/leads/convert", {"name": "First", "lead_ids": [first, second]}, expect=201)
    restaurants = await _counts(running, "SELECT COUNT(*) FROM restaurants")

    refused = await running.post(
        "/api/leads/convert", {"name": "Again", "lead_ids": [third, second, first]}, expect=409
    )
    assert refused["error"] == "conflict"
    assert sorted(refused["details"]["lead_ids"]) == sorted([first, second])
    assert first in refused["message"]
    assert second in refused["message"]
    assert await _counts(running, "SELECT COUNT(*) FROM restaurants") == restaurants
    assert (await running.get("/api/registration-batches"))["total"] == 1
    unconverted = await running.get("/api/leads", converted=False)
    assert [item["id"] for item in unconverted["items"]] == [third]


async def test_a_filter_converts_only_the_matching_unconverted_leads(running: Batch) -> None:
    samples = [lead(i) for i in range(12)]
    await _leads(running, samples)
    wellington = sorted(s["name"] for s in samples if s["city"] == "Wellington")
    assert len(wellington) >= 2

    batch = await running.post(
        "/api/leads/convert", {"name": "Wellington", "filter": {"city": "Wellington"}}, expect=201
    )
    assert batch["total_restaurants"] == len(wellington)
    detail = await running.batch(batch["id"])
    assert sorted(row["restaurant_name"] for row in detail["restaurants"]["items"]) == wellington
    limited = await running.post(
        "/api/leads/convert", {"name": "Two", "filter": {"city": "Auckland", "limit": 2}}, expect=201
    )
    assert limited["total_restaurants"] == 2
    again = await running.post(
        "/api/leads/convert", {"name": "Again", "filter": {"city": "Wellington"}}, expect=422
    )
    assert again["field"] == "filter"
    (spare,) = await _leads(running, [lead(20)])
    both = await running.post(
        "/api/leads/convert",
        {"name": "Both", "lead_ids": [spare], "filter": {"city": "Auckland"}},
        expect=422,
    )
    assert both["field"] == "lead_ids"
    assert "either" in both["message"]


async def test_a_batch_of_existing_restaurants_refuses_those_already_being_registered(running: Batch) -> None:
    batch_id, _names = await running.convert(3)
    detail = await running.batch(batch_id)
    restaurant_ids = [row["restaurant_id"] for row in detail["restaurants"]["items"]]

    busy = await running.post(
        "/api/registration-batches", {"name": "Twice", "restaurant_ids": restaurant_ids[:2]}, expect=409
    )
    assert sorted(busy["details"]["restaurant_ids"]) == sorted(restaurant_ids[:2])
    await running.post(f"/api/registration-batches/{batch_id}/cancel")
    again = await running.post(
        "/api/registration-batches", {"name": "Again", "restaurant_ids": restaurant_ids}, expect=201
    )
    assert again["total_restaurants"] == 3
    assert again["status"] in ("pending", "in_progress")
    await running.until_waiting(again["id"], "company_search", 3)


async def test_cancelling_a_batch_cancels_every_job_and_drops_its_waiting_steps(running: Batch) -> None:
    batch_id, _names = await running.convert(5)
    await running.until_waiting(batch_id, "company_search", 5)

    cancelled = await running.post(f"/api/registration-batches/{batch_id}/cancel")
    assert cancelled["status"] == "cancelled"
    assert cancelled["counts_by_status"] == {"cancelled": 5}
    assert cancelled["counts_by_step"]["company_search"] == {"cancelled": 5}
    assert cancelled["counts_by_step"]["yolo_execution"] == {"cancelled": 5}
    assert await running.waiting(batch_id, "company_search") == 0
    again = await running.post(f"/api/registration-batches/{batch_id}/cancel", expect=409)
    assert again["error"] == "conflict"
    assert (await running.post(f"/api/registration-batches/{batch_id}/retry-failed", expect=409))["message"]


@pytest.mark.parametrize("faults", [{"latency_ms": 300}])
async def test_cancelling_a_batch_while_its_steps_run_stops_them_and_keeps_nothing(running: Batch) -> None:
    batch_id, _names = await running.convert(4)

    async def extracting() -> bool:
        return bool((await running.batch(batch_id))["counts_by_step"]["extraction"].get("in_progress"))

    await wait_for(extracting, timeout=30, interval=0.02, what="an extraction to run")
    cancelled = await running.post(f"/api/registration-batches/{batch_id}/cancel")
    assert cancelled["counts_by_status"] == {"cancelled": 4}
    await _until_no_job_runs(running)
    detail = await running.batch(batch_id)
    assert detail["counts_by_step"]["extraction"] == {"cancelled": 4}
    assert detail["counts_by_step"]["company_search"] == {"cancelled": 4}
    for row in detail["restaurants"]["items"]:  # the cancelled extractions stored nothing
        assert not (await running.get(f"/api/restaurants/{row['restaurant_id']}"))["menu"]
    assert await running.waiting(batch_id, "company_search") == 0


async def test_a_paused_batch_starts_no_automatic_step_but_takes_answers(running: Batch) -> None:
    batch_id, _names = await running.convert(4)
    await running.until_waiting(batch_id, "company_search", 4)
    paused = await running.post(f"/api/registration-batches/{batch_id}/pause")
    assert paused["status"] == "paused"

    confirmed = await running.post(
        "/api/actions/bulk", {"mode": "confirm_search_terms", "batch_id": batch_id}
    )
    assert confirmed["succeeded"] == 4

    async def parked() -> int:  # the test's only batch
        return await _counts(
            running,
            "SELECT COUNT(*) FROM registration_job_steps WHERE step_key = 'company_search' "
            "AND status = 'pending' AND job_id IS NULL AND answered_at IS NOT NULL",
        )

    async def all_parked() -> bool:
        return await parked() == 4

    # Each answer queued the search; the worker took every one and parked it instead of searching.
    await wait_for(all_parked, timeout=30, what="the four searches to park")
    assert await _counts(running, "SELECT COUNT(*) FROM company_candidates") == 0
    assert await running.waiting(batch_id, "company_selection") == 0
    assert (await running.batch(batch_id))["status"] == "paused"

    resumed = await running.post(f"/api/registration-batches/{batch_id}/resume")
    assert resumed["status"] == "in_progress"
    await running.until_waiting(batch_id, "company_selection", 4)
    assert await _counts(running, "SELECT COUNT(*) FROM company_candidates") > 0


async def test_actions_filter_by_restaurant_and_batches_come_in_pages(running: Batch) -> None:
    older, _ = await running.convert(2)
    await running.until_waiting(older, "company_search", 2)
    detail = await running.batch(older)
    first = detail["restaurants"]["items"][0]

    mine = await running.get("/api/actions", restaurant_id=first["restaurant_id"])
    assert mine["total"] == 1
    assert mine["items"][0]["step_id"] == first["steps"]["company_search"]["id"]
    assert (await running.get("/api/actions", batch_id=older, step_key="yolo_config"))["total"] == 0

    newer_leads = await _leads(running, [lead(9)])
    newer = (
        await running.post("/api/leads/convert", {"name": "Newer", "lead_ids": newer_leads}, expect=201)
    )["id"]
    first_page = await running.get("/api/registration-batches", limit=1)
    second_page = await running.get("/api/registration-batches", limit=1, offset=1)
    assert (first_page["total"], first_page["limit"], first_page["offset"]) == (2, 1, 0)
    assert [b["id"] for b in first_page["items"]] == [newer]
    assert [b["id"] for b in second_page["items"]] == [older]
    assert second_page["items"][0]["total_restaurants"] == 2
    assert set(second_page["items"][0]["counts_by_step"]) == {
        "extraction", "company_search", "company_selection",
        "company_details", "yolo_config", "yolo_execution",
    }  # fmt: skip
    bad = await running.client.get(
        "/api/registration-batches", params={"status": "sleeping"}, headers=running.tenant.headers
    )
    assert bad.status_code == 422
    assert bad.json()["field"] == "status"


MENU_FAILS_TWICE = {
    "rules": [{"service": "extraction", "operation": "extract_menu", "kind": "validation_error", "times": 2}]
}


async def _step_events(running: Batch, step_id: str) -> list[dict[str, Any]]:
    query = (
        "SELECT from_status, to_status, actor, reason FROM events "
        "WHERE entity_type = 'step' AND entity_id = :id ORDER BY id"
    )
    return [row._asdict() for row in await rows(running.services.db, query, id=UUID(step_id))]


@pytest.mark.parametrize("faults", [MENU_FAILS_TWICE])
async def test_an_admin_skips_or_reruns_a_failed_step_and_the_events_say_who_and_why(running: Batch) -> None:
    batch_id, _names = await running.convert(3)
    await running.until_waiting(batch_id, "company_search", 1)

    async def two_failed() -> bool:
        return (await running.batch(batch_id))["counts_by_status"].get("failed") == 2

    await wait_for(two_failed, timeout=30, what="two extractions to fail")
    failed = (await running.batch(batch_id, status="failed"))["restaurants"]["items"]
    skip_id, rerun_id = (row["steps"]["extraction"]["id"] for row in failed)
    actor = f"user:{running.tenant.principal.user_id}"

    member_user, _password = await accounts.create_user(
        running.services,
        organisation=running.tenant.name,
        email="member@batch-org.test",
        role=UserRole.MEMBER,
    )
    member = await accounts.create_token(
        running.services, organisation=running.tenant.name, role=UserRole.MEMBER, user_id=member_user.id
    )
    forbidden = await running.client.post(
        f"/api/registration-steps/{skip_id}/skip",
        json={"reason": "no menu online"},
        headers={"Authorization": f"Bearer {member}"},
    )
    assert forbidden.status_code == 403, forbidden.text
    no_reason = await running.client.post(
        f"/api/registration-steps/{skip_id}/skip", json={"reason": "   "}, headers=running.tenant.headers
    )
    assert no_reason.status_code == 422
    assert no_reason.json()["field"] == "reason"

    skipped = await running.post(f"/api/registration-steps/{skip_id}/skip", {"reason": "no menu online"})
    assert skipped["status"] == "skipped"
    rerun = await running.post(
        f"/api/registration-steps/{rerun_id}/rerun",
        {
            "reason": "the marketplace page moved",
            "input": {"source_url": "https://menus.example.co.nz/moved"},
        },
    )
    assert rerun["status"] == "restarted"
    twice = await running.post(f"/api/registration-steps/{skip_id}/skip", {"reason": "again"}, expect=409)
    assert "only a failed step" in twice["message"]

    await running.until_waiting(batch_id, "company_search", 3)
    detail = await running.batch(batch_id)
    assert detail["counts_by_step"]["extraction"] == {"completed": 2, "skipped": 1}
    assert detail["counts_by_status"] == {"action_required": 3}
    row = next(r for r in detail["restaurants"]["items"] if r["steps"]["extraction"]["id"] == skip_id)
    assert row["steps"]["extraction"]["skip_reason"] == "no menu online"
    assert (await _step_events(running, skip_id))[-1] == {
        "from_status": "failed", "to_status": "skipped", "actor": actor,
        "reason": "skipped by operator: no menu online",
    }  # fmt: skip
    restarted = [e for e in await _step_events(running, rerun_id) if e["actor"] == actor]
    assert [(e["from_status"], e["to_status"]) for e in restarted] == [("failed", "pending")]
    reason = restarted[0]["reason"]
    assert reason == "re-run by operator: the marketplace page moved; changed source_url"


SEARCH_FAILS_ONCE = {
    "rules": [{"service": "companies", "operation": "search_by_name", "kind": "validation_error", "times": 1}]
}


@pytest.mark.parametrize("faults", [SEARCH_FAILS_ONCE])
async def test_a_rerun_of_the_search_with_new_terms_records_them_as_the_admins_answer(running: Batch) -> None:
    batch_id, _names = await running.convert(1)
    await running.until_waiting(batch_id, "company_search", 1)
    await running.post("/api/actions/bulk", {"mode": "confirm_search_terms", "batch_id": batch_id})

    async def failed() -> bool:
        return (await running.batch(batch_id))["counts_by_status"].get("failed") == 1

    await wait_for(failed, timeout=30, what="the search to fail")
    step_id = (await running.batch(batch_id))["restaurants"]["items"][0]["steps"]["company_search"]["id"]
    first = await _search_step(running)
    admin, _password = await accounts.create_user(
        running.services, organisation=running.tenant.name, email="lead@batch-org.test", role=UserRole.ADMIN
    )
    token = await accounts.create_token(
        running.services, organisation=running.tenant.name, role=UserRole.ADMIN, user_id=admin.id
    )
    rerun = await running.client.post(
        f"/api/registration-steps/{step_id}/rerun",
        json={"reason": "search by the legal name", "input": {"legal_name": "Golden Dragon Pizza Limited"}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert rerun.status_code == 200, rerun.text
    await running.until_waiting(batch_id, "company_selection", 1)
    step = await _search_step(running)
    answer = step.answer if isinstance(step.answer, dict) else json.loads(step.answer)
    assert answer["legal_name"] == "Golden Dragon Pizza Limited"
    assert str(UUID(str(step.answered_by))) == str(admin.id), "the re-run's terms are the other admin's"
    assert step.answered_at is not None
    assert step.answered_at != first.answered_at


async def _search_step(running: Batch) -> Any:
    query = "SELECT answer, answered_by, answered_at FROM registration_job_steps WHERE step_key = :key"
    (step,) = await rows(running.services.db, query, key="company_search")
    return step


async def _until_no_job_runs(running: Batch) -> None:
    """Every job ends (a waiting step holds no job, so no worker); a job's row is marked done just after
    the transaction that made its step wait, hence the wait."""

    async def idle() -> bool:
        return not await _counts(
            running, "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'in_progress')"
        )

    await wait_for(idle, timeout=10, what="every job to end")


async def test_every_wait_carries_its_form_and_answer_schema_and_holds_no_worker(running: Batch) -> None:
    batch_id, names = await running.convert(3)
    await running.until_waiting(batch_id, "company_search", 3)
    await _until_no_job_runs(running)
    searches = (await running.get("/api/actions", batch_id=batch_id, step_key="company_search"))["items"]
    for action in searches:
        terms = action["input"]["search_terms"]
        assert terms["trading_name"] == action["restaurant_name"]
        assert terms["legal_name"] == f"{action['restaurant_name']} Limited"
        assert terms["street_address"]
        assert set(action["answer_schema"]["properties"]) == {"trading_name", "legal_name", "street_address"}
    assert sorted(a["restaurant_name"] for a in searches) == sorted(names)

    await running.post("/api/actions/bulk", {"mode": "confirm_search_terms", "batch_id": batch_id})
    await running.until_waiting(batch_id, "company_selection", 3)
    await _until_no_job_runs(running)
    for action in (await running.get("/api/actions", batch_id=batch_id, step_key="company_selection"))[
        "items"
    ]:
        candidates = action["input"]["candidates"]
        assert {c["matched_by"] for c in candidates} == {"name", "address"}
        assert all(0 <= c["score"] <= 1 and c["match_reasons"] for c in candidates)
        assert [c["score"] for c in candidates] == sorted((c["score"] for c in candidates), reverse=True)
        assert set(action["answer_schema"]["properties"]) == {"candidate_id", "none_of_these"}
        query = "SELECT COUNT(*) FROM company_candidates WHERE registration_job_id = :run"
        stored = await _counts(running, query, run=UUID(action["registration_job_id"]))
        assert stored == len(candidates), "every candidate is persisted"

    await running.post("/api/actions/bulk", {"mode": "accept_preselected", "batch_id": batch_id})
    for action in (await running.get("/api/actions", batch_id=batch_id, step_key="company_selection"))[
        "items"
    ]:
        await running.post(f"/api/actions/{action['step_id']}", {"answer": {"none_of_these": True}})
    await running.until_waiting(batch_id, "yolo_config", 3)
    await _until_no_job_runs(running)
    for action in (await running.get("/api/actions", batch_id=batch_id, step_key="yolo_config"))["items"]:
        prefilled = action["input"]["prefilled"]
        assert prefilled["restaurant"]["name"] == action["restaurant_name"]
        assert prefilled["website"]["primary_colour"].startswith("#")
        assert {"account", "restaurant", "payment"} <= set(action["answer_schema"]["properties"])
