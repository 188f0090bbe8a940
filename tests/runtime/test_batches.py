"""Batches end to end through the API with a real in-process worker on the simulated services: the
50-lead batch with exactly the operator requests of the acceptance criterion, a restart mid-batch,
wrong company-selection answers, and failure injection with retry-failed."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from onboardflow.adapters.companies.simulated import has_clear_match
from onboardflow.api.app import create_app
from onboardflow.config import Settings
from onboardflow.operations import actions as actions_ops
from onboardflow.operations.services import Services, close_services
from onboardflow.store import actions as actions_store
from tests.conftest import make_tenant
from tests.runtime.batch_driver import CONFIG, EMAIL_CONFIG, Batch, rows, start_service, stop_service
from tests.runtime.waiting import wait_for


async def test_fifty_leads_complete_with_exactly_the_acceptance_operator_requests(running: Batch) -> None:
    batch_id, names = await running.convert(50)
    unclear = [name for name in names if not has_clear_match(name)]
    assert 3 <= len(unclear) <= 20, "the sample should hold some names without a clear match"
    await running.answer_everything(batch_id, 50, names)
    assert running.answer_requests == 3 + len(unclear)
    detail = await running.until_final(batch_id)
    assert detail["status"] == "completed", detail["restaurants"]["items"][:3]
    assert detail["counts_by_status"] == {"completed": 50}
    assert detail["progress_percent"] == 100
    assert detail["counts_by_step"]["yolo_execution"] == {"completed": 50}
    assert detail["counts_by_step"]["company_details"] == {"completed": 50}
    row = detail["restaurants"]["items"][0]
    assert set(row["steps"]) == {
        "extraction", "company_search", "company_selection",
        "company_details", "yolo_config", "yolo_execution",
    }  # fmt: skip
    restaurant = await running.get(f"/api/restaurants/{row['restaurant_id']}")
    assert restaurant["menu"]["categories"]
    assert restaurant["branding"]["primary_colour"]
    assert restaurant["company"]["company_number"]
    assert restaurant["contact_email"]
    assert restaurant["pumpd_restaurant_id"]
    assert await running.waiting(batch_id, "company_search") == 0
    listed = await running.get("/api/registration-batches")
    assert listed["items"][0]["id"] == batch_id
    assert listed["items"][0]["progress_percent"] == 100
    # Who answered and when is on every answered step: the operator's user, at a time.
    answered = await rows(
        running.services.db,
        "SELECT step_key, answered_by, COUNT(*) FROM registration_job_steps "
        "WHERE step_key IN ('company_search', 'company_selection', 'yolo_config') "
        "AND answered_at IS NOT NULL GROUP BY step_key, answered_by",
    )
    ((leaked,),) = await rows(
        running.services.db,
        "SELECT COUNT(*) FROM registration_job_steps WHERE CAST(answer AS TEXT) LIKE '%batch-pass%'",
    )
    user = str(running.tenant.principal.user_id).replace("-", "")
    assert {(key, str(by).replace("-", ""), count) for key, by, count in answered} == {
        ("company_search", user, 50), ("company_selection", user, 50), ("yolo_config", user, 50),
    }  # fmt: skip
    assert leaked == 0, "the configuration's password is sealed at rest"


async def test_auto_confirm_chooses_clear_matches_without_asking(running: Batch) -> None:
    batch_id, names = await running.convert(10, auto_confirm_company=True)
    unclear = [name for name in names if not has_clear_match(name)]
    await running.until_waiting(batch_id, "company_search", 10)
    await running.post("/api/actions/bulk", {"mode": "confirm_search_terms", "batch_id": batch_id})

    async def settled() -> bool:
        return (
            await running.waiting(batch_id, "company_selection")
            + await running.waiting(batch_id, "yolo_config")
            == 10
        )

    await wait_for(settled, timeout=60, what="selections to settle")
    await running.until_waiting(batch_id, "company_selection", len(unclear))


async def test_a_wrong_candidate_is_refused_and_nothing_changes(running: Batch) -> None:
    batch_id, _names = await running.convert(3)
    await running.until_waiting(batch_id, "company_search", 3)
    await running.post("/api/actions/bulk", {"mode": "confirm_search_terms", "batch_id": batch_id})
    await running.until_waiting(batch_id, "company_selection", 3)
    actions = (await running.get("/api/actions", batch_id=batch_id, step_key="company_selection"))["items"]
    mine, theirs = actions[0], actions[1]
    foreign = theirs["input"]["candidates"][0]["id"]
    r = await running.client.post(
        f"/api/actions/{mine['step_id']}",
        json={"answer": {"candidate_id": foreign}},
        headers=running.tenant.headers,
    )
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "candidate_id"
    # A removed candidate of the step's own run is refused too.
    own = mine["input"]["candidates"][0]["id"]
    async with running.services.db.write() as conn:
        await actions_store.remove_candidate(conn, UUID(own))
    r = await running.client.post(
        f"/api/actions/{mine['step_id']}",
        json={"answer": {"candidate_id": own}},
        headers=running.tenant.headers,
    )
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "candidate_id"
    # Another organisation can neither see nor answer the step.
    other = await make_tenant(running.services, "Other Org")
    valid = mine["input"]["candidates"][1]["id"]
    r = await running.client.post(
        f"/api/actions/{mine['step_id']}", json={"answer": {"candidate_id": valid}}, headers=other.headers
    )
    assert r.status_code == 404
    assert (await running.client.get("/api/actions", headers=other.headers)).json()["total"] == 0
    # Nor can the step be answered with a candidate of the other organisation's own restaurant (the
    # acceptance criterion's third case; answers are checked against the step's own candidates).
    elsewhere = Batch(running.services, running.client, other)
    other_batch, _ = await elsewhere.convert(1)
    await elsewhere.until_waiting(other_batch, "company_search", 1)
    await elsewhere.post("/api/actions/bulk", {"mode": "confirm_search_terms", "batch_id": other_batch})
    await elsewhere.until_waiting(other_batch, "company_selection", 1)
    (their_action,) = (await elsewhere.get("/api/actions", step_key="company_selection"))["items"]
    r = await running.client.post(
        f"/api/actions/{mine['step_id']}",
        json={"answer": {"candidate_id": their_action["input"]["candidates"][0]["id"]}},
        headers=running.tenant.headers,
    )
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "candidate_id"
    still = (await running.get("/api/actions", batch_id=batch_id, step_key="company_selection"))["items"]
    assert {a["step_id"] for a in still} == {a["step_id"] for a in actions}
    ((answered,),) = await rows(
        running.services.db,
        "SELECT COUNT(*) FROM registration_job_steps "
        "WHERE step_key = 'company_selection' AND answered_at IS NOT NULL",
    )
    assert answered == 0
    # A bulk of answers reports item by item: the valid one goes through, the wrong one does not.
    report = await running.post(
        "/api/actions/bulk",
        {
            "mode": "answers",
            "items": [
                {"step_id": mine["step_id"], "answer": {"candidate_id": foreign}},
                {"step_id": theirs["step_id"], "answer": {"none_of_these": True}},
            ],
        },
    )
    assert [item["ok"] for item in report["items"]] == [False, True]
    assert report["items"][0]["field"] == "candidate_id"


async def test_a_bulk_answer_in_many_chunks_reports_every_item_in_order(
    running: Batch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks are recorded at once on PostgreSQL; the report still follows the items' order, a bad
    item fails alone, and every good one is recorded."""
    monkeypatch.setattr(actions_ops, "BULK_CHUNK", 2)
    batch_id, _names = await running.convert(7)
    await running.until_waiting(batch_id, "company_search", 7)
    waiting = (await running.get("/api/actions", batch_id=batch_id, step_key="company_search"))["items"]
    step_ids = [action["step_id"] for action in waiting]
    targets = [*step_ids[:3], str(uuid4()), *step_ids[3:]]
    report = await running.post("/api/actions/bulk", {"mode": "confirm_search_terms", "step_ids": targets})
    assert [item["index"] for item in report["items"]] == list(range(8))
    assert [item["ok"] for item in report["items"]] == [True, True, True, False, True, True, True, True]
    assert report["items"][3]["error"] == "NotFound"
    assert [str(item["step_id"]) for item in report["items"] if item["ok"]] == step_ids
    assert (report["succeeded"], report["failed"]) == (7, 1)
    await running.until_waiting(batch_id, "company_selection", 7)


async def _steps_in_progress(services: Services, step_key: str) -> set[str]:
    query = "SELECT id FROM registration_job_steps WHERE step_key = :key AND status = 'in_progress'"
    return {str(row[0]) for row in await rows(services.db, query, key=step_key)}


async def test_a_restart_mid_batch_loses_nothing(settings: Settings) -> None:
    """Everything is closed mid-batch, the worker without waiting for its running jobs (the simulated
    services answer slowly, so some company_details steps are running), then started again."""
    services, worker, task = await start_service(settings, {"latency_ms": 400}, shutdown_grace_seconds=0)
    tenant = await make_tenant(services, "Restart Org")
    app = create_app(settings, services=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        first = Batch(services, client, tenant)
        batch_id, names = await first.convert(12)
        await first.until_waiting(batch_id, "company_search", 12)
        await first.post("/api/actions/bulk", {"mode": "confirm_search_terms", "batch_id": batch_id})
        await first.until_waiting(batch_id, "company_selection", 12)
        before = await first.get("/api/actions", batch_id=batch_id, step_key="company_selection", limit=100)
        # Half the selections answered: their company_details jobs are running when we stop.
        accepted = await first.post(
            "/api/actions/bulk",
            {"mode": "accept_preselected", "step_ids": [a["step_id"] for a in before["items"][:6]]},
        )

        async def details_running() -> bool:
            return bool(await _steps_in_progress(services, "company_details"))

        await wait_for(details_running, timeout=30, interval=0.02, what="a company_details step to run")
    worker.stop()
    await task
    # What was running when the worker stopped without waiting (each call takes 400 ms).
    interrupted = await _steps_in_progress(services, "company_details")
    assert interrupted
    await close_services(services)

    services, worker, task = await start_service(settings)
    app = create_app(settings, services=services)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client:
            second = Batch(services, client, tenant)
            after = await second.get(
                "/api/actions", batch_id=batch_id, step_key="company_selection", limit=100
            )
            remaining = {a["step_id"]: a for a in before["items"]}
            for action in after["items"]:
                assert action["input"]["candidates"] == remaining[action["step_id"]]["input"]["candidates"]
            answered_before = {i["step_id"] for i in accepted["items"] if i["ok"]}
            still_waiting = {a["step_id"] for a in after["items"]}
            assert answered_before
            assert still_waiting == set(remaining) - answered_before
            await second.post("/api/actions/bulk", {"mode": "accept_preselected", "batch_id": batch_id})
            for action in (await second.get("/api/actions", batch_id=batch_id, step_key="company_selection"))[
                "items"
            ]:
                await second.post(f"/api/actions/{action['step_id']}", {"answer": {"none_of_these": True}})
            await second.until_waiting(batch_id, "yolo_config", 12)
            config = {**CONFIG, "account": {**CONFIG["account"], "email": "owner@example.co.nz"},
                      "restaurant": {"email": "owner@example.co.nz"}}  # fmt: skip
            applied = await second.post(
                "/api/actions/bulk", {"mode": "apply_config", "batch_id": batch_id, "config": config}
            )
            assert applied["succeeded"] == 12, applied
            detail = await second.until_final(batch_id)
            assert detail["counts_by_status"] == {"completed": 12}, detail["restaurants"]["items"]
            query = "SELECT id, status FROM registration_job_steps WHERE step_key = 'company_details'"
            details = {str(step_id): status for step_id, status in await rows(services.db, query)}
            assert {details[step_id] for step_id in interrupted} == {"completed"}
            skipped = detail["counts_by_step"]["company_details"].get("skipped", 0)
            assert skipped == sum(1 for n in names if not has_clear_match(n))
    finally:
        await stop_service(services, worker, task)


FAULTY = {
    "seed": 7,  # the same faults in every run
    "rules": [{"kind": "server_error", "rate": 0.07}, {"kind": "validation_error", "rate": 0.03}],
}


@pytest.mark.parametrize("faults", [FAULTY])
async def test_with_ten_percent_faults_every_job_ends_and_retry_failed_completes_them(running: Batch) -> None:
    count = 200
    batch_id, _names = await running.convert(count, auto_confirm_company=True)
    detail = await _answer_until_final(running, batch_id)
    counts = detail["counts_by_status"]
    assert sum(counts.values()) == count
    assert set(counts) == {"completed", "failed"}, "a tenth of the calls failing fails some jobs for good"
    assert detail["status"] == "failed"
    simulation = running.services.adapters.simulation
    assert simulation is not None
    fired = {call.outcome for call in simulation.calls if call.outcome.startswith("fault:")}
    assert fired == {"fault:server_error", "fault:validation_error"}
    for step_counts in detail["counts_by_step"].values():
        assert sum(step_counts.values()) == count
    for _round in range(8):
        if detail["status"] == "completed":
            break
        retried = await running.post(f"/api/registration-batches/{batch_id}/retry-failed")
        assert retried["retried"] == detail["counts_by_status"].get("failed", 0)
        detail = await _answer_until_final(running, batch_id)
        assert sum(detail["counts_by_status"].values()) == count
    assert detail["status"] == "completed", detail["counts_by_status"]
    assert detail["progress_percent"] == 100


async def _answer_until_final(running: Batch, batch_id: str, timeout: float = 150) -> dict[str, Any]:
    """Answer whatever waits (in bulk; unclear companies as none) until every job is final."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        summary = await running.batch(batch_id, limit=1)
        if summary["status"] in ("completed", "failed"):
            return await running.batch(batch_id, limit=500)
        for mode, key in (
            ("confirm_search_terms", "company_search"),
            ("accept_preselected", "company_selection"),
            ("apply_config", "yolo_config"),
        ):
            if await running.waiting(batch_id, key):
                await running.post(
                    "/api/actions/bulk", {"mode": mode, "batch_id": batch_id, "config": EMAIL_CONFIG}
                )
        for action in (await running.get("/api/actions", batch_id=batch_id, step_key="company_selection"))[
            "items"
        ]:
            if action["input"]["preselected_candidate_id"] is None:
                r = await running.client.post(
                    f"/api/actions/{action['step_id']}",
                    json={"answer": {"none_of_these": True}},
                    headers=running.tenant.headers,
                )
                assert r.status_code in (200, 409), r.text
        await asyncio.sleep(0.2)
    raise AssertionError(f"the batch did not finish in {timeout}s: {await running.batch(batch_id, limit=1)}")
