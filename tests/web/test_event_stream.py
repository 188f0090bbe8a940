"""The live feed of status changes: scoped to the organisation (and a run), resumable, bounded."""

from __future__ import annotations

import httpx
import pytest

from onboardflow.operations import events as ops
from onboardflow.operations.services import Services
from tests.conftest import Tenant
from tests.domain.conftest import sample_config
from tests.web.conftest import LiveServer


async def _enqueue_noop(client: httpx.AsyncClient, tenant: Tenant) -> str:
    """Enqueue a job and cancel it: one status change (no worker runs in these tests)."""
    r = await client.post("/api/jobs", json={"job_type": "noop"}, headers=tenant.headers)
    assert r.status_code == 201, r.text
    job_id = str(r.json()["id"])
    cancelled = await client.post(f"/api/jobs/{job_id}/cancel", headers=tenant.headers)
    assert cancelled.status_code == 200, cancelled.text
    return job_id


async def test_a_json_page_lists_only_our_events_after_the_cursor(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    job_id = await _enqueue_noop(client, tenant)
    start = (await client.get("/api/events/stream", headers=tenant.headers)).json()
    assert start["events"] == []
    ours = (await client.get("/api/events/stream?after=0", headers=tenant.headers)).json()
    assert any(e["entity_id"] == job_id for e in ours["events"])
    assert ours["last_event_id"] == ours["events"][-1]["id"] >= start["last_event_id"]
    theirs = (await client.get("/api/events/stream?after=0", headers=other_tenant.headers)).json()
    assert theirs["events"] == []
    later = await client.get(f"/api/events/stream?after={ours['last_event_id']}", headers=tenant.headers)
    assert later.json()["events"] == []


async def test_a_registration_job_of_another_organisation_is_not_found(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    restaurant = await client.post("/api/restaurants", json={"name": "Scoped"}, headers=tenant.headers)
    run = await client.post(
        "/api/registration/execute-single-restaurant",
        json={"restaurantId": restaurant.json()["id"], "formData": sample_config()},
        headers=tenant.headers,
    )
    run_id = run.json()["jobId"]
    mine = await client.get(
        f"/api/events/stream?after=0&registration_job_id={run_id}", headers=tenant.headers
    )
    assert mine.status_code == 200
    assert mine.json()["events"], "starting a run records its first transitions"
    assert all(run_id in (e["entity_id"], e["registration_job_id"]) for e in mine.json()["events"])
    r = await client.get(f"/api/events/stream?registration_job_id={run_id}", headers=other_tenant.headers)
    assert r.status_code == 404
    bad = await client.get("/api/events/stream", headers={**tenant.headers, "Last-Event-ID": "x1"})
    assert bad.status_code == 422
    assert bad.json()["field"] == "Last-Event-ID"


async def test_following_yields_new_events_then_heartbeats_and_ends_in_time(
    client: httpx.AsyncClient, services: Services, tenant: Tenant
) -> None:
    after = await ops.latest_event_id(services, tenant.principal)
    job_id = await _enqueue_noop(client, tenant)
    seen: list[ops.Delivered | ops.Heartbeat] = []
    async for item in ops.follow_events(
        services,
        tenant.principal,
        ops.FeedScope(),
        after_id=after,
        max_seconds=0.6,
        poll_seconds=0.05,
        heartbeat_seconds=0.2,
    ):
        seen.append(item)
    delivered = [i for i in seen if isinstance(i, ops.Delivered)]
    assert delivered
    assert delivered[0].event["entity_id"] == job_id
    assert [d.cursor for d in delivered] == sorted(d.cursor for d in delivered)
    assert len({d.event["id"] for d in delivered}) == len(delivered), "no event is delivered twice"
    assert any(isinstance(i, ops.Heartbeat) for i in seen)


@pytest.mark.slow
def test_the_server_streams_events_and_resumes_from_last_event_id(live_server: LiveServer) -> None:
    headers = {**live_server.headers, "Accept": "text/event-stream"}
    with httpx.Client(base_url=live_server.url, timeout=20) as http:
        with http.stream("GET", "/api/events/stream", headers=headers) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            r = http.post("/api/jobs", json={"job_type": "noop"}, headers=live_server.headers)
            job_id = r.json()["id"]
            event_id = None
            for line in stream.iter_lines():
                if line.startswith("id: "):
                    event_id = int(line[4:])
                if line.startswith("data: ") and job_id in line:
                    break
        assert event_id is not None
        page = http.get(
            "/api/events/stream", headers={**live_server.headers, "Last-Event-ID": str(event_id - 1)}
        ).json()
        assert page["events"][0]["id"] == event_id
