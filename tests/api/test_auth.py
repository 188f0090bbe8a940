"""Authentication: bearer tokens for the API, signed session cookies with CSRF for the web UI."""

from __future__ import annotations

import re

import httpx

from tests.conftest import Tenant


async def test_health_checks_need_no_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] in ("sqlite", "postgresql")


async def test_missing_or_unknown_token_is_401(client: httpx.AsyncClient, tenant: Tenant) -> None:
    assert (await client.get("/api/restaurants")).status_code == 401
    r = await client.get("/api/restaurants", headers={"Authorization": "Bearer obf_nonsense"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "form has no CSRF field"
    return match.group(1)


async def test_web_sign_in_sets_a_session_that_the_pages_and_api_accept(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    page = await client.get("/login")
    r = await client.post(
        "/login", data={"email": tenant.email, "password": tenant.password, "csrf": _csrf(page.text)}
    )
    assert r.status_code == 303
    home = await client.get("/")
    assert home.status_code == 200
    assert "Restaurants" in home.text
    assert (await client.get("/api/restaurants")).status_code == 200


async def test_web_sign_in_with_a_wrong_password_is_refused(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    page = await client.get("/login")
    r = await client.post(
        "/login", data={"email": tenant.email, "password": "wrong", "csrf": _csrf(page.text)}
    )
    assert r.status_code == 401
    assert "wrong email or password" in r.text
    assert (await client.get("/", follow_redirects=False)).status_code == 303


async def test_forms_without_the_csrf_token_are_refused(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await client.get("/login")
    r = await client.post(
        "/login", data={"email": tenant.email, "password": tenant.password, "csrf": "forged"}
    )
    assert r.status_code == 403


async def test_session_api_writes_need_the_csrf_header(client: httpx.AsyncClient, tenant: Tenant) -> None:
    page = await client.get("/login")
    token = _csrf(page.text)
    await client.post("/login", data={"email": tenant.email, "password": tenant.password, "csrf": token})
    home = await client.get("/")
    csrf = _csrf(home.text)
    assert (await client.post("/api/restaurants", json={"name": "X"})).status_code == 403
    r = await client.post("/api/restaurants", json={"name": "X"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
