"""Restaurants and leads through the API: CRUD, paging, imports, and field-named errors."""

from __future__ import annotations

import httpx

from tests.conftest import Tenant


async def test_restaurant_create_get_update_and_list_with_paging(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    ids = []
    for i in range(5):
        r = await client.post(
            "/api/restaurants", json={"name": f"Cafe {i}", "city": "Wellington"}, headers=tenant.headers
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    got = await client.get(f"/api/restaurants/{ids[0]}", headers=tenant.headers)
    assert got.json()["name"] == "Cafe 0"
    patched = await client.patch(
        f"/api/restaurants/{ids[0]}", json={"phone": "+64 4 555 0100"}, headers=tenant.headers
    )
    assert patched.status_code == 200
    assert patched.json()["phone"] == "+64 4 555 0100"
    assert patched.json()["name"] == "Cafe 0"
    page = (await client.get("/api/restaurants?limit=2&offset=1", headers=tenant.headers)).json()
    assert page["total"] == 5
    assert (page["limit"], page["offset"], len(page["items"])) == (2, 1, 2)


async def test_leads_import_from_json_and_csv_and_list_unconverted(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    r = await client.post(
        "/api/leads",
        json=[
            {
                "name": "Joe's Pizza",
                "city": "Auckland",
                "marketplace_url": "https://ubereats.com/nz/store/joes",
            }
        ],
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    csv_text = "name,address,city,rating\nSushi Go,1 Queen St,Auckland,4.5\nTaco Town,,Hamilton,\n"
    r = await client.post("/api/leads/import-csv", content=csv_text, headers=tenant.headers)
    assert r.status_code == 201, r.text
    assert r.json()["imported"] == 2
    assert r.json()["items"][0]["metadata"] == {"rating": "4.5"}
    listing = (await client.get("/api/leads?converted=false", headers=tenant.headers)).json()
    assert listing["total"] == 3


async def test_invalid_lead_in_an_import_names_its_index_and_field_and_stores_nothing(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    r = await client.post(
        "/api/leads", json=[{"name": "Ok"}, {"name": "Bad", "website": "not a url"}], headers=tenant.headers
    )
    assert r.status_code == 422
    assert r.json()["field"] == "1.website"
    assert (await client.get("/api/leads", headers=tenant.headers)).json()["total"] == 0


async def test_csv_without_a_name_column_is_a_422_naming_the_file(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    r = await client.post("/api/leads/import-csv", content="city\nAuckland\n", headers=tenant.headers)
    assert r.status_code == 422
    assert r.json()["field"] == "file"


async def test_bad_inputs_get_a_4xx_naming_the_field(client: httpx.AsyncClient, tenant: Tenant) -> None:
    cases = [
        ("post", "/api/restaurants", {"content": b"{not json"}, 422, "body"),
        ("post", "/api/restaurants", {"json": {"name": 5}}, 422, "name"),
        ("post", "/api/restaurants", {"json": {"name": "x", "colour": "red"}}, 422, "colour"),
        ("post", "/api/restaurants", {"json": {"name": "x", "email": "nope"}}, 422, "email"),
        ("get", "/api/restaurants/not-a-uuid", {}, 422, "restaurant_id"),
        ("get", "/api/restaurants?limit=0", {}, 422, "limit"),
    ]
    for method, url, kwargs, status, field in cases:
        headers = {**tenant.headers, "content-type": "application/json"}
        r = await client.request(method, url, headers=headers, **kwargs)
        assert r.status_code == status, (url, r.text)
        assert r.json()["field"] == field, (url, r.json())


async def test_an_oversize_body_is_refused_with_413(client: httpx.AsyncClient, tenant: Tenant) -> None:
    big = b"name\n" + b"x" * (6 * 1024 * 1024)
    r = await client.post("/api/leads/import-csv", content=big, headers=tenant.headers)
    assert r.status_code == 413
    assert r.json()["field"] == "body"


async def test_unknown_restaurant_is_404(client: httpx.AsyncClient, tenant: Tenant) -> None:
    r = await client.get("/api/restaurants/00000000-0000-0000-0000-000000000001", headers=tenant.headers)
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"
