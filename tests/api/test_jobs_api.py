"""The jobs API: enqueue, list, detail, cancel, retry, the health reports, queues and /metrics,
against a real worker running in the test."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from onboardflow.domain.statuses import UserRole
from onboardflow.operations.services import Services
from onboardflow.runtime import metrics
from onboardflow.runtime.worker import Worker
from tests.conftest import Tenant, make_tenant

FINAL = {"completed", "failed", "cancelled"}


def nested(depth: int) -> Any:
    """A JSON value nested ``depth`` lists deep."""
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


@asynccontextmanager
async def running_worker(services: Services) -> AsyncIterator[Worker]:
    """A real worker of this process, stopped gracefully when the block ends."""
    worker = Worker(services.runtime_deps(), services.registry)
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        worker.stop()
        await task


async def enqueue(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    r = await client.post("/api/jobs", json={"job_type": "noop", **body}, headers=tenant.headers)
    assert r.status_code in (200, 201), r.text
    job: dict[str, Any] = r.json()
    return job


async def wait_for(
    client: httpx.AsyncClient, tenant: Tenant, job_id: str, statuses: set[str], timeout: float = 10.0
) -> dict[str, Any]:
    """Poll the job until its status is one of ``statuses``."""
    deadline = time.monotonic() + timeout
    while True:
        r = await client.get(f"/api/jobs/{job_id}", headers=tenant.headers)
        assert r.status_code == 200, r.text
        job: dict[str, Any] = r.json()
        if job["status"] in statuses:
            return job
        assert time.monotonic() < deadline, f"job still {job['status']} after {timeout}s: {job}"
        await asyncio.sleep(0.05)


# -- enqueue and completion ---------------------------------------------------------------------------


async def test_an_enqueued_noop_job_runs_and_its_completion_is_visible(
    client: httpx.AsyncClient, services: Services, tenant: Tenant
) -> None:
    async with running_worker(services):
        r = await client.post("/api/jobs", json={"job_type": "noop"}, headers=tenant.headers)
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["created"] is True
        assert created["status"] in ("queued", "in_progress", "completed")
        done = await wait_for(client, tenant, created["id"], FINAL)
    assert done["status"] == "completed"
    assert done["result"] == {"ok": True}
    assert done["attempts"] == 1
    assert done["started_at"] is not None
    assert done["completed_at"] is not None


async def test_enqueue_takes_queue_retries_and_timeout_from_the_job_type_unless_given(
    client: httpx.AsyncClient, services: Services, tenant: Tenant
) -> None:
    handler = services.registry.get("noop")
    assert handler is not None
    default = await enqueue(client, tenant)
    assert default["queue"] == handler.queue
    assert default["max_retries"] == handler.max_retries
    assert default["timeout_seconds"] == handler.timeout_seconds
    assert default["created_by"] == str(tenant.principal.user_id)
    given = await enqueue(client, tenant, queue="reports", max_retries=7, timeout_seconds=12.5, priority=4)
    assert (given["queue"], given["max_retries"], given["timeout_seconds"], given["priority"]) == (
        "reports",
        7,
        12.5,
        4,
    )


async def test_a_future_run_at_leaves_the_job_pending(client: httpx.AsyncClient, tenant: Tenant) -> None:
    job = await enqueue(client, tenant, run_at="2999-01-01T00:00:00+00:00")
    assert job["status"] == "pending"
    assert job["run_at"].startswith("2999-01-01")


async def test_enqueueing_a_held_unique_key_again_answers_200_with_the_existing_job(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    first = await client.post(
        "/api/jobs", json={"job_type": "noop", "unique_key": "menu-42"}, headers=tenant.headers
    )
    again = await client.post(
        "/api/jobs", json={"job_type": "noop", "unique_key": "menu-42"}, headers=tenant.headers
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["created"] is False
    assert again.json()["unique_key"] == "menu-42"


async def test_two_organisations_using_the_same_unique_key_get_their_own_jobs(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    ours = await enqueue(client, tenant, unique_key="nightly")
    theirs = await enqueue(client, other_tenant, unique_key="nightly")
    assert theirs["created"] is True
    assert theirs["id"] != ours["id"]


async def test_a_member_may_not_move_a_job_to_another_queue_than_its_types(
    client: httpx.AsyncClient, services: Services, tenant: Tenant
) -> None:
    member = await make_tenant(services, "Org Member", role=UserRole.MEMBER)
    moved = await client.post("/api/jobs", json={"job_type": "noop", "queue": "fast"}, headers=member.headers)
    assert moved.status_code == 403
    plain = await client.post("/api/jobs", json={"job_type": "noop"}, headers=member.headers)
    assert plain.status_code == 201


# -- list, filters, paging ------------------------------------------------------------------------------


async def test_list_filters_by_status_type_queue_restaurant_and_parent(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    restaurant = (
        await client.post("/api/restaurants", json={"name": "Filter Diner"}, headers=tenant.headers)
    ).json()
    parent = await enqueue(client, tenant)
    child = await enqueue(client, tenant, parent_job_id=parent["id"])
    for_restaurant = await enqueue(client, tenant, restaurant_id=restaurant["id"])
    elsewhere = await enqueue(client, tenant, queue="elsewhere")
    cancelled = await enqueue(client, tenant)
    await client.post(f"/api/jobs/{cancelled['id']}/cancel", headers=tenant.headers)
    await enqueue(client, other_tenant, queue="elsewhere")

    async def ids(**params: Any) -> set[str]:
        r = await client.get("/api/jobs", params=params, headers=tenant.headers)
        assert r.status_code == 200, r.text
        assert r.json()["total"] == len(r.json()["items"])
        return {j["id"] for j in r.json()["items"]}

    everything = {parent["id"], child["id"], for_restaurant["id"], elsewhere["id"], cancelled["id"]}
    assert await ids() == everything
    assert await ids(status="cancelled") == {cancelled["id"]}
    assert await ids(status=["cancelled", "queued"]) == everything
    assert await ids(job_type="noop") == everything
    assert await ids(job_type="no-such-type") == set()
    assert await ids(queue="elsewhere") == {elsewhere["id"]}
    assert await ids(restaurant_id=restaurant["id"]) == {for_restaurant["id"]}
    assert await ids(parent_job_id=parent["id"]) == {child["id"]}


async def test_list_pages_newest_first_with_total_limit_and_offset(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    made = [(await enqueue(client, tenant, payload={"n": n}))["id"] for n in range(5)]
    first = (await client.get("/api/jobs?limit=2&offset=0", headers=tenant.headers)).json()
    second = (await client.get("/api/jobs?limit=2&offset=2", headers=tenant.headers)).json()
    last = (await client.get("/api/jobs?limit=2&offset=4", headers=tenant.headers)).json()
    assert (first["total"], first["limit"], first["offset"]) == (5, 2, 0)
    assert (second["offset"], last["offset"]) == (2, 4)
    seen = [j["id"] for page in (first, second, last) for j in page["items"]]
    assert seen == list(reversed(made))


# -- cancel ----------------------------------------------------------------------------------------------


async def test_cancelling_a_queued_job_is_immediate_and_cancels_its_children(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    parent = await enqueue(client, tenant)
    child = await enqueue(client, tenant, parent_job_id=parent["id"])
    r = await client.post(f"/api/jobs/{parent['id']}/cancel", headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    assert {(a["id"], a["status"]) for a in r.json()["affected"]} == {
        (parent["id"], "cancelled"),
        (child["id"], "cancelled"),
    }
    for job_id in (parent["id"], child["id"]):
        job = (await client.get(f"/api/jobs/{job_id}", headers=tenant.headers)).json()
        assert job["status"] == "cancelled"
        assert job["cancelled_at"] is not None


async def test_cancelling_a_running_job_answers_cancelling_and_it_ends_cancelled_within_2_seconds(
    client: httpx.AsyncClient, services: Services, tenant: Tenant
) -> None:
    async with running_worker(services):
        job = await enqueue(client, tenant, payload={"sleep_ms": 10_000})
        await wait_for(client, tenant, job["id"], {"in_progress"})
        asked = time.monotonic()
        r = await client.post(f"/api/jobs/{job['id']}/cancel", headers=tenant.headers)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelling"
        ended = await wait_for(client, tenant, job["id"], FINAL, timeout=2.0)
        took = time.monotonic() - asked
        await asyncio.sleep(0.3)
        later = (await client.get(f"/api/jobs/{job['id']}", headers=tenant.headers)).json()
    assert ended["status"] == "cancelled", ended
    assert took < 2.0
    assert later["status"] == "cancelled"
    assert later["attempts"] == 1


async def test_cancelling_a_cancelled_job_again_is_harmless_and_a_completed_one_is_409(
    client: httpx.AsyncClient, services: Services, tenant: Tenant
) -> None:
    waiting = await enqueue(client, tenant, run_at="2999-01-01T00:00:00Z")
    first = await client.post(f"/api/jobs/{waiting['id']}/cancel", headers=tenant.headers)
    again = await client.post(f"/api/jobs/{waiting['id']}/cancel", headers=tenant.headers)
    assert first.json()["status"] == again.json()["status"] == "cancelled"
    assert again.json()["affected"] == []
    async with running_worker(services):
        done = await enqueue(client, tenant)
        await wait_for(client, tenant, done["id"], {"completed"})
    r = await client.post(f"/api/jobs/{done['id']}/cancel", headers=tenant.headers)
    assert r.status_code == 409
    assert (await client.get(f"/api/jobs/{done['id']}", headers=tenant.headers)).json()[
        "status"
    ] == "completed"


# -- retry -----------------------------------------------------------------------------------------------


async def test_retrying_a_failed_job_queues_it_again_and_it_runs_again(
    client: httpx.AsyncClient, services: Services, tenant: Tenant
) -> None:
    async with running_worker(services) as worker:
        job = await enqueue(client, tenant, payload={"sleep_ms": "soon"})
        failed = await wait_for(client, tenant, job["id"], FINAL)
        assert failed["status"] == "failed"
        assert "sleep_ms" in failed["error_message"]
        claims_before = worker.claimed_total
        r = await client.post(f"/api/jobs/{job['id']}/retry", headers=tenant.headers)
        assert r.status_code == 200, r.text
        assert r.json()["attempts"] == 0
        assert r.json()["status"] in ("queued", "in_progress", "failed")
        await wait_for(client, tenant, job["id"], {"failed"}, timeout=5.0)
        assert worker.claimed_total == claims_before + 1


async def test_retrying_a_job_that_is_neither_failed_nor_cancelled_is_409_and_changes_nothing(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    queued = await enqueue(client, tenant)
    r = await client.post(f"/api/jobs/{queued['id']}/retry", headers=tenant.headers)
    assert r.status_code == 409
    assert r.json()["details"] == {"status": "queued"}
    after = (await client.get(f"/api/jobs/{queued['id']}", headers=tenant.headers)).json()
    assert (after["status"], after["updated_at"]) == ("queued", queued["updated_at"])


async def test_retrying_a_running_job_is_409_and_leaves_its_attempt_alone(
    client: httpx.AsyncClient, services: Services, tenant: Tenant
) -> None:
    async with running_worker(services) as worker:
        job = await enqueue(client, tenant, payload={"sleep_ms": 10_000})
        running = await wait_for(client, tenant, job["id"], {"in_progress"})
        claims = worker.claimed_total
        r = await client.post(f"/api/jobs/{job['id']}/retry", headers=tenant.headers)
        assert r.status_code == 409, r.text
        await asyncio.sleep(0.3)
        after = (await client.get(f"/api/jobs/{job['id']}", headers=tenant.headers)).json()
        assert (after["status"], after["started_at"]) == ("in_progress", running["started_at"])
        assert worker.claimed_total == claims
        await client.post(f"/api/jobs/{job['id']}/cancel", headers=tenant.headers)
        await wait_for(client, tenant, job["id"], FINAL, timeout=2.0)


async def test_a_cancelled_job_can_be_retried(client: httpx.AsyncClient, tenant: Tenant) -> None:
    job = await enqueue(client, tenant)
    await client.post(f"/api/jobs/{job['id']}/cancel", headers=tenant.headers)
    r = await client.post(f"/api/jobs/{job['id']}/retry", headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "queued"
    assert r.json()["cancel_requested"] is False


# -- reports -------------------------------------------------------------------------------------------


async def test_the_three_reports_count_the_callers_jobs_only(
    client: httpx.AsyncClient, services: Services, tenant: Tenant, other_tenant: Tenant
) -> None:
    async with running_worker(services):
        done = [await enqueue(client, tenant, payload={"sleep_ms": 20}) for _ in range(2)]
        bad = await enqueue(client, tenant, payload={"sleep_ms": -1})
        theirs = await enqueue(client, other_tenant)
        for job in done:
            await wait_for(client, tenant, job["id"], FINAL)
        await wait_for(client, tenant, bad["id"], FINAL)
        await wait_for(client, other_tenant, theirs["id"], FINAL)
    waiting = await enqueue(client, tenant)

    status = (await client.get("/api/jobs/queue-status", headers=tenant.headers)).json()["items"]
    by_status = {(i["job_type"], i["status"]): i for i in status}
    assert {k: v["count"] for k, v in by_status.items()} == {
        ("noop", "completed"): 2,
        ("noop", "failed"): 1,
        ("noop", "queued"): 1,
    }
    assert by_status["noop", "completed"]["avg_duration_seconds"] >= 0.02
    assert by_status["noop", "queued"]["avg_duration_seconds"] is None
    assert by_status["noop", "queued"]["latest_job"] is not None

    failed = (await client.get("/api/jobs/failed-summary", headers=tenant.headers)).json()
    assert failed["total"] == 1
    assert failed["items"][0]["id"] == bad["id"]
    assert failed["items"][0]["attempts"] <= failed["items"][0]["max_retries"]

    (noop,) = (await client.get("/api/jobs/metrics", headers=tenant.headers)).json()["items"]
    assert noop == {
        "job_type": "noop",
        "total_jobs": 4,
        "completed_count": 2,
        "failed_count": 1,
        "in_progress_count": 1,
        "success_rate_percent": 50.0,
        "avg_duration_seconds": noop["avg_duration_seconds"],
    }
    assert noop["avg_duration_seconds"] is not None

    (their_noop,) = (await client.get("/api/jobs/metrics", headers=other_tenant.headers)).json()["items"]
    assert (their_noop["total_jobs"], their_noop["completed_count"]) == (1, 1)
    their_failed = (await client.get("/api/jobs/failed-summary", headers=other_tenant.headers)).json()
    assert their_failed["total"] == 0
    assert waiting["id"] not in str(their_failed)


async def test_report_paths_are_not_taken_for_job_ids(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for path in ("queue-status", "failed-summary", "metrics"):
        r = await client.get(f"/api/jobs/{path}", headers=tenant.headers)
        assert r.status_code == 200, (path, r.text)


# -- bad input, isolation, secrets -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"job_type": "no-such-type"}, "job_type"),
        ({"job_type": "has spaces"}, "job_type"),
        ({}, "job_type"),
        ({"job_type": "noop", "priority": 11}, "priority"),
        ({"job_type": "noop", "max_retries": -1}, "max_retries"),
        ({"job_type": "noop", "timeout_seconds": 0}, "timeout_seconds"),
        ({"job_type": "noop", "run_at": "2030-01-01T00:00:00"}, "run_at"),
        ({"job_type": "noop", "payload": [1, 2]}, "payload"),
        ({"job_type": "noop", "payload": {"text": "nul\u0000byte"}}, "payload"),
        ({"job_type": "noop", "payload": {"deep": nested(100)}}, "payload"),
        ({"job_type": "noop", "metadata": {"deep": nested(900)}}, "metadata"),
        ({"job_type": "noop", "queue": "a" * 61}, "queue"),
        ({"job_type": "noop", "restaurant_id": "not-a-uuid"}, "restaurant_id"),
        ({"job_type": "noop", "restaurant_id": "00000000-0000-0000-0000-000000000001"}, "restaurant_id"),
        ({"job_type": "noop", "parent_job_id": "00000000-0000-0000-0000-000000000001"}, "parent_job_id"),
        ({"job_type": "noop", "surprise": True}, "surprise"),
    ],
)
async def test_bad_enqueue_input_is_422_naming_the_field(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    r = await client.post("/api/jobs", json=body, headers=tenant.headers)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
    assert (await client.get("/api/jobs", headers=tenant.headers)).json()["total"] == 0


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("GET", "/api/jobs?status=sleeping", None, "status.0"),
        ("GET", "/api/jobs?limit=0", None, "limit"),
        ("GET", "/api/jobs?restaurant_id=nope", None, "restaurant_id"),
        ("GET", "/api/jobs/not-a-uuid", None, "job_id"),
        ("POST", "/api/jobs/not-a-uuid/cancel", None, "job_id"),
        ("PATCH", "/api/queues/default", {"concurrency_limit": 0}, "concurrency_limit"),
        ("PATCH", "/api/queues/default", {"paused": "maybe"}, "paused"),
        ("PATCH", "/api/queues/default", {"frozen": True}, "frozen"),
        ("PATCH", "/api/queues/bad%20name", {"paused": True}, "name"),
    ],
)
async def test_bad_query_path_or_queue_input_is_422_naming_the_field(
    client: httpx.AsyncClient, tenant: Tenant, method: str, url: str, body: Any, field: str
) -> None:
    r = await client.request(method, url, json=body, headers=tenant.headers)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field


async def test_a_restaurant_or_parent_of_another_organisation_cannot_be_referenced(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    their_restaurant = (
        await client.post("/api/restaurants", json={"name": "Theirs"}, headers=other_tenant.headers)
    ).json()
    their_job = await enqueue(client, other_tenant)
    r = await client.post(
        "/api/jobs",
        json={"job_type": "noop", "restaurant_id": their_restaurant["id"]},
        headers=tenant.headers,
    )
    assert (r.status_code, r.json()["field"]) == (422, "restaurant_id")
    r = await client.post(
        "/api/jobs", json={"job_type": "noop", "parent_job_id": their_job["id"]}, headers=tenant.headers
    )
    assert (r.status_code, r.json()["field"]) == (422, "parent_job_id")


@pytest.mark.parametrize(("method", "suffix"), [("GET", ""), ("POST", "/cancel"), ("POST", "/retry")])
async def test_another_organisations_job_is_404_and_left_unchanged(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, method: str, suffix: str
) -> None:
    job = await enqueue(client, tenant, payload={"note": "ours"})
    r = await client.request(method, f"/api/jobs/{job['id']}{suffix}", headers=other_tenant.headers)
    assert r.status_code == 404, r.text
    assert "ours" not in r.text
    mine = (await client.get(f"/api/jobs/{job['id']}", headers=tenant.headers)).json()
    assert (mine["status"], mine["updated_at"]) == ("queued", job["updated_at"])
    listed = (await client.get("/api/jobs", headers=other_tenant.headers)).json()
    assert job["id"] not in {j["id"] for j in listed["items"]}


async def test_secrets_in_payload_result_and_metadata_are_shown_redacted(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    job = await enqueue(
        client,
        tenant,
        payload={"api_key": "sk-live-123", "login": {"password": "hunter2", "user": "ops"}},
        metadata={"token": "tok-999"},
    )
    assert job["payload"] == {"api_key": "***", "login": {"password": "***", "user": "ops"}}
    assert job["metadata"] == {"token": "***"}
    for url in (f"/api/jobs/{job['id']}", "/api/jobs"):
        text = (await client.get(url, headers=tenant.headers)).text
        for secret in ("sk-live-123", "hunter2", "tok-999"):
            assert secret not in text, (url, secret)


# -- queues --------------------------------------------------------------------------------------------


async def test_an_admin_pauses_a_queue_and_its_jobs_wait_until_it_is_resumed(
    client: httpx.AsyncClient, services: Services, tenant: Tenant
) -> None:
    r = await client.patch(
        "/api/queues/slow", json={"paused": True, "concurrency_limit": 2}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    assert (r.json()["paused"], r.json()["concurrency_limit"]) == (True, 2)
    job = await enqueue(client, tenant, queue="slow")
    async with running_worker(services):
        await asyncio.sleep(1.5)
        held = (await client.get(f"/api/jobs/{job['id']}", headers=tenant.headers)).json()
        assert held["status"] == "queued"
        listed = (await client.get("/api/queues", headers=tenant.headers)).json()
        slow = next(q for q in listed["items"] if q["name"] == "slow")
        assert slow == {
            "name": "slow",
            "paused": True,
            "concurrency_limit": 2,
            "jobs": {"pending": 0, "queued": 1, "in_progress": 0, "paused": 0},
        }
        resumed = await client.patch("/api/queues/slow", json={"paused": False}, headers=tenant.headers)
        assert (resumed.json()["paused"], resumed.json()["concurrency_limit"]) == (False, 2)
        await wait_for(client, tenant, job["id"], {"completed"}, timeout=5.0)
    unlimited = await client.patch(
        "/api/queues/slow", json={"concurrency_limit": None}, headers=tenant.headers
    )
    assert (unlimited.json()["paused"], unlimited.json()["concurrency_limit"]) == (False, None)


async def test_an_empty_queue_patch_answers_the_queue_without_creating_a_setting(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    r = await client.patch("/api/queues/never-configured", json={}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "name": "never-configured",
        "paused": False,
        "concurrency_limit": None,
        "jobs": {"pending": 0, "queued": 0, "in_progress": 0, "paused": 0},
    }
    listed = (await client.get("/api/queues", headers=other_tenant.headers)).json()
    assert "never-configured" not in {q["name"] for q in listed["items"]}


async def test_queue_counts_are_the_callers_own_while_settings_are_shared(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    await enqueue(client, tenant, queue="shared")
    await enqueue(client, tenant, queue="shared")
    await client.patch("/api/queues/shared", json={"paused": True}, headers=tenant.headers)
    ours = (await client.get("/api/queues", headers=tenant.headers)).json()["items"]
    theirs = (await client.get("/api/queues", headers=other_tenant.headers)).json()["items"]
    assert next(q for q in ours if q["name"] == "shared")["jobs"]["queued"] == 2
    shared = next(q for q in theirs if q["name"] == "shared")
    assert (shared["paused"], shared["jobs"]["queued"]) == (True, 0)


async def test_a_member_cannot_change_a_queue_or_read_the_cluster_metrics(
    client: httpx.AsyncClient, services: Services
) -> None:
    member = await make_tenant(services, "Org Member", role=UserRole.MEMBER)
    r = await client.patch("/api/queues/default", json={"paused": True}, headers=member.headers)
    assert r.status_code == 403
    assert (await client.get("/metrics", headers=member.headers)).status_code == 403
    queues = (await client.get("/api/queues", headers=member.headers)).json()["items"]
    assert all(not q["paused"] for q in queues)


# -- Prometheus ---------------------------------------------------------------------------------------


def _sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text, or None."""
    label_text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = "^" + re.escape(name + (f"{{{label_text}}}" if labels else "")) + r" (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else None


async def test_metrics_need_an_admin_token_and_count_every_organisations_jobs(
    client: httpx.AsyncClient, services: Services, tenant: Tenant, other_tenant: Tenant
) -> None:
    assert (await client.get("/metrics")).status_code == 401
    await enqueue(client, tenant)
    await enqueue(client, other_tenant)
    await enqueue(client, other_tenant, run_at="2999-01-01T00:00:00Z")
    await client.patch(
        "/api/queues/batch", json={"paused": True, "concurrency_limit": 3}, headers=tenant.headers
    )
    r = await client.get("/metrics", headers=tenant.headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert _sample(text, "onboardflow_jobs", queue="default", status="queued") == 2
    assert _sample(text, "onboardflow_jobs", queue="default", status="pending") == 1
    assert _sample(text, "onboardflow_queue_paused", queue="batch") == 1
    assert _sample(text, "onboardflow_queue_concurrency_limit", queue="batch") == 3
    assert _sample(text, "onboardflow_workers_alive") == 0
    oldest = _sample(text, "onboardflow_queue_oldest_due_seconds", queue="default")
    assert oldest is not None
    assert oldest >= 0


async def test_metrics_show_live_workers_finished_jobs_and_recorded_outcomes(
    client: httpx.AsyncClient, services: Services, tenant: Tenant
) -> None:
    before = _sample(
        (await client.get("/metrics", headers=tenant.headers)).text,
        "onboardflow_job_attempts_total",
        job_type="metrics-probe",
        outcome="completed",
    )
    metrics.record_outcome("metrics-probe", "completed", 40)
    async with running_worker(services):
        job = await enqueue(client, tenant)
        await wait_for(client, tenant, job["id"], {"completed"})
        text = (await client.get("/metrics", headers=tenant.headers)).text
    assert _sample(text, "onboardflow_workers_alive") == 1
    assert _sample(text, "onboardflow_worker_slots") == services.settings.worker_concurrency
    assert _sample(text, "onboardflow_jobs_finished_24h", queue="default", status="completed") == 1
    after = _sample(text, "onboardflow_job_attempts_total", job_type="metrics-probe", outcome="completed")
    assert after == (before or 0) + 1


# -- OpenAPI ------------------------------------------------------------------------------------------


async def test_openapi_documents_typed_request_and_response_models_for_the_job_routes(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]

    def response_ref(path: str, method: str, status: str = "200") -> str:
        schema = paths[path][method]["responses"][status]["content"]["application/json"]["schema"]
        return str(schema.get("$ref", ""))

    assert response_ref("/api/jobs", "post", "201").endswith("/JobEnqueuedOut")
    assert response_ref("/api/jobs/{job_id}", "get").endswith("/JobOut")
    assert response_ref("/api/jobs/{job_id}/cancel", "post").endswith("/JobCancelOut")
    assert response_ref("/api/jobs/queue-status", "get").endswith("/QueueStatusReportOut")
    assert response_ref("/api/jobs/metrics", "get").endswith("/JobMetricsReportOut")
    assert "FailedJobOut" in response_ref("/api/jobs/failed-summary", "get")
    assert response_ref("/api/queues/{name}", "patch").endswith("/QueueOut")
    body = paths["/api/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body.endswith("/JobIn")
    assert spec["components"]["schemas"]["JobIn"]["additionalProperties"] is False
    assert "/metrics" in paths
