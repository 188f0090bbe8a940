"""Organisation isolation: every route, called with another organisation's token and ids, answers
only 401 or 404, and never shows the other organisation's data."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from onboardflow.api.app import create_app
from onboardflow.config import Settings
from tests.conftest import Tenant
from tests.domain.conftest import sample_config

PUBLIC = {"/healthz", "/readyz"}

# A valid body for every route that takes one; a new route without an entry fails the walk below.
SAMPLE_BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/restaurants"): {"name": "Intruder Cafe"},
    ("PATCH", "/api/restaurants/{restaurant_id}"): {"name": "Renamed"},
    ("POST", "/api/leads"): [{"name": "Intruder Lead"}],
    ("POST", "/api/leads/import-csv"): "name\nIntruder CSV Lead\n",
    ("PATCH", "/api/organisation/settings"): {"settings": {"intruder": True}},
    ("POST", "/api/jobs"): {"job_type": "noop", "payload": {"note": "intruder"}},
    ("POST", "/api/jobs/{job_id}/cancel"): None,
    ("POST", "/api/jobs/{job_id}/retry"): None,
    ("PATCH", "/api/queues/{name}"): {"paused": False},
    ("POST", "/api/registration-jobs"): lambda ids: {
        "restaurant_id": ids["restaurant_id"],
        "execution_config": sample_config(),
    },
    ("POST", "/api/registration-jobs/{registration_job_id}/cancel"): None,
    ("POST", "/api/registration-jobs/{registration_job_id}/retry"): {"from_step": "account"},
    ("POST", "/api/registration/execute-single-restaurant"): lambda ids: {
        "restaurantId": ids["restaurant_id"],
        "formData": sample_config(),
    },
    ("POST", "/api/leads/convert"): lambda ids: {"name": "Intruder batch", "lead_ids": [ids["lead_id"]]},
    ("POST", "/api/registration-batches"): lambda ids: {
        "name": "Intruder batch",
        "restaurant_ids": [ids["restaurant_id"]],
    },
    ("POST", "/api/registration-batches/{batch_id}/cancel"): None,
    ("POST", "/api/registration-batches/{batch_id}/pause"): None,
    ("POST", "/api/registration-batches/{batch_id}/resume"): None,
    ("POST", "/api/registration-batches/{batch_id}/retry-failed"): None,
    ("POST", "/api/actions/bulk"): lambda ids: {"mode": "confirm_search_terms", "step_ids": [ids["step_id"]]},
    ("POST", "/api/actions/{step_id}"): {"answer": {"trading_name": "Intruder"}},
    ("POST", "/api/registration-steps/{step_id}/skip"): {"reason": "intruder"},
    ("POST", "/api/registration-steps/{step_id}/rerun"): {"reason": "intruder", "input": {}},
}

# Queue settings are cluster-wide, not rows of an organisation: any organisation's admin may change
# them (a member gets 403, see tests/api/test_jobs_api.py), so the walk expects these answers there.
QUEUE_NAME = "isolation-walk"
CLUSTER_WIDE: dict[tuple[str, str], int] = {("PATCH", "/api/queues/{name}"): 200}


def api_routes(settings: Settings) -> list[tuple[str, str]]:
    """Every (method, path) of the OpenAPI document except the public health checks."""
    paths = create_app(settings).openapi()["paths"]
    found = [(method.upper(), path) for path, ops in paths.items() if path not in PUBLIC for method in ops]
    assert len(found) >= 7, f"expected the whole API, found {found}"
    return found


async def _seed(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, str]:
    r = await client.post("/api/restaurants", json={"name": "Secret Sauce Ltd"}, headers=tenant.headers)
    await client.post("/api/leads", json=[{"name": "Secret Lead"}], headers=tenant.headers)
    await client.patch(
        "/api/organisation/settings", json={"settings": {"secret_plan": "world"}}, headers=tenant.headers
    )
    job = await client.post(
        "/api/jobs",
        json={"job_type": "noop", "payload": {"note": "Secret Job Payload"}, "unique_key": "secret-job-key"},
        headers=tenant.headers,
    )
    run = await client.post(
        "/api/registration/execute-single-restaurant",
        json={"restaurantId": r.json()["id"], "formData": sample_config()},
        headers=tenant.headers,
    )
    leads = await client.post("/api/leads", json=[{"name": "Secret Batch Lead"}], headers=tenant.headers)
    batch = await client.post(
        "/api/leads/convert",
        json={"name": "Secret Batch", "lead_ids": [leads.json()["items"][0]["id"]]},
        headers=tenant.headers,
    )
    detail = await client.get(f"/api/registration-batches/{batch.json()['id']}", headers=tenant.headers)
    step_id = detail.json()["restaurants"]["items"][0]["steps"]["company_search"]["id"]
    return {
        "restaurant_id": r.json()["id"],
        "job_id": job.json()["id"],
        "name": QUEUE_NAME,
        "registration_job_id": run.json()["jobId"],
        "batch_id": batch.json()["id"],
        "step_id": step_id,
        "lead_id": leads.json()["items"][0]["id"],
    }


def _request_kwargs(method: str, path: str, ids: dict[str, str]) -> dict[str, Any]:
    key = (method, path)
    if method in ("POST", "PUT", "PATCH"):
        assert key in SAMPLE_BODIES, f"add a sample body for {method} {path} to the isolation walk"
        body = SAMPLE_BODIES[key]
        if callable(body):
            body = body(ids)
        return {"content": body} if isinstance(body, str) else {"json": body}
    return {}


async def test_every_route_needs_a_token(
    client: httpx.AsyncClient, settings: Settings, tenant: Tenant
) -> None:
    ids = await _seed(client, tenant)
    for method, path in api_routes(settings):
        url = path.format(**ids)
        r = await client.request(method, url, **_request_kwargs(method, path, ids))
        assert r.status_code == 401, (method, path, r.status_code, r.text)


async def test_another_organisation_sees_none_of_our_rows_on_any_route(
    client: httpx.AsyncClient, settings: Settings, tenant: Tenant, other_tenant: Tenant
) -> None:
    ids = await _seed(client, tenant)
    ours = [
        *(value for key, value in ids.items() if key != "name"),
        "Secret Sauce Ltd",
        "Secret Lead",
        "secret_plan",
        "Secret Job Payload",
        "secret-job-key",
        str(tenant.principal.organisation_id),
    ]
    routes = api_routes(settings)
    assert routes, "no routes found"
    for method, path in routes:
        params = re.findall(r"{(\w+)}", path)
        missing = [p for p in params if p not in ids]
        assert not missing, f"the isolation walk has no id of the first organisation for {missing} in {path}"
        r = await client.request(
            method, path.format(**ids), headers=other_tenant.headers, **_request_kwargs(method, path, ids)
        )
        if (method, path) in CLUSTER_WIDE:
            assert r.status_code == CLUSTER_WIDE[method, path], (method, path, r.status_code, r.text)
        elif params:
            assert r.status_code == 404, (method, path, r.status_code, r.text)
        else:
            assert r.status_code < 500, (method, path, r.text)
        for value in ours:
            assert value not in r.text, (method, path, value)


@pytest.mark.parametrize("method", ["GET", "PATCH"])
async def test_our_restaurant_is_404_for_another_organisation_and_unchanged(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, method: str
) -> None:
    ids = await _seed(client, tenant)
    url = f"/api/restaurants/{ids['restaurant_id']}"
    kwargs = {"json": {"name": "Hijacked"}} if method == "PATCH" else {}
    r = await client.request(method, url, headers=other_tenant.headers, **kwargs)
    assert r.status_code == 404
    mine = await client.get(url, headers=tenant.headers)
    assert mine.json()["name"] == "Secret Sauce Ltd"
