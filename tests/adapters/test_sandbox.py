"""The sandbox: the simulated services over HTTP, with a call log, reset and live fault plans."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio
import uvicorn

from onboardflow.adapters import wire
from onboardflow.adapters.faults import FaultPlan
from onboardflow.adapters.registry import build_adapters
from onboardflow.adapters.sandbox import create_sandbox_app
from onboardflow.errors import AlreadyDoneError, RetryableError

ACCOUNT = {"email": "joe@joespizza.co.nz", "password": "correct-horse-battery"}


@pytest_asyncio.fixture
async def sandbox() -> AsyncIterator[httpx.AsyncClient]:
    app = create_sandbox_app(seed=0)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox") as client:
        yield client


async def test_the_call_log_lists_service_operation_key_and_outcome(sandbox: httpx.AsyncClient) -> None:
    for key in ("k1", "k1", "k2"):
        await sandbox.post("/pumpd/operations/account", json=ACCOUNT, headers={"Idempotency-Key": key})
    await sandbox.post("/cdn/uploads", json={"source_url": "https://x.example/a.jpg", "kind": "menu_item"},
                       headers={"Idempotency-Key": "c1"})  # fmt: skip
    calls = (await sandbox.get("/_calls")).json()
    assert [(c["service"], c["operation"], c["idempotency_key"], c["outcome"]) for c in calls] == [
        ("pumpd", "account", "k1", "ok"),
        ("pumpd", "account", "k1", "replayed"),
        ("pumpd", "account", "k2", "already_done"),
        ("cdn", "upload", "c1", "ok"),
    ]
    only_cdn = (await sandbox.get("/_calls", params={"service": "cdn"})).json()
    assert [c["service"] for c in only_cdn] == ["cdn"]


async def test_an_existing_account_answers_409_with_the_existing_id(sandbox: httpx.AsyncClient) -> None:
    first = await sandbox.post("/pumpd/operations/account", json=ACCOUNT, headers={"Idempotency-Key": "a"})
    second = await sandbox.post("/pumpd/operations/account", json=ACCOUNT, headers={"Idempotency-Key": "b"})
    assert second.status_code == 409
    assert second.json()["error"]["existing"] == first.json()["ids"]


async def test_reset_forgets_state_and_calls(sandbox: httpx.AsyncClient) -> None:
    await sandbox.post("/pumpd/operations/account", json=ACCOUNT, headers={"Idempotency-Key": "a"})
    assert (await sandbox.post("/_reset")).json() == {"reset": True}
    assert (await sandbox.get("/_calls")).json() == []
    again = await sandbox.post("/pumpd/operations/account", json=ACCOUNT, headers={"Idempotency-Key": "b"})
    assert again.status_code == 200


async def test_a_fault_plan_can_be_replaced_while_running(sandbox: httpx.AsyncClient) -> None:
    plan = {"rules": [{"service": "pumpd", "kind": "rate_limited", "times": 1, "retry_after": 9}]}
    assert (await sandbox.put("/_faults", json=plan)).status_code == 200
    assert FaultPlan.from_dict((await sandbox.get("/_faults")).json()) == FaultPlan.from_dict(plan)
    limited = await sandbox.post("/pumpd/operations/account", json=ACCOUNT, headers={"Idempotency-Key": "a"})
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "9"
    bad = await sandbox.put("/_faults", json={"rules": [{"kind": "meteor", "times": 1}]})
    assert bad.status_code == 422
    assert bad.json()["error"]["errors"][0]["field"] == "faults.rules[0].kind"


async def test_requests_the_sandbox_cannot_serve_get_client_errors(sandbox: httpx.AsyncClient) -> None:
    no_key = await sandbox.post("/pumpd/operations/account", json=ACCOUNT)
    unknown = await sandbox.post("/pumpd/operations/fly", json={}, headers={"Idempotency-Key": "k"})
    not_json = await sandbox.post(
        "/pumpd/operations/account",
        content=b"{",
        headers={"Idempotency-Key": "k", "Content-Type": "application/json"},
    )
    both = await sandbox.get("/companies/search", params={"name": "a", "address": "b"})
    assert (no_key.status_code, unknown.status_code, not_json.status_code, both.status_code) == (
        400,
        404,
        422,
        422,
    )
    assert (await sandbox.get("/_health")).json() == {"status": "ok"}


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
def served_sandbox() -> Iterator[str]:
    """The sandbox served by uvicorn on a real 127.0.0.1 port, in a thread; yields its base URL."""
    sock = _free_socket()
    port = sock.getsockname()[1]
    menu_fails_once = {"service": "pumpd", "operation": "menu_import", "kind": "server_error", "times": 1}
    plan = FaultPlan.from_dict({"rules": [menu_fails_once]})
    config = uvicorn.Config(create_sandbox_app(seed=0, faults=plan), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the sandbox did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.mark.slow
async def test_the_http_adapters_work_against_the_sandbox_on_a_real_port(served_sandbox: str) -> None:
    adapters = build_adapters("http", base_url=served_sandbox, timeout=5)
    try:
        account = await adapters.pumpd.run("account", ACCOUNT, idempotency_key="acc")
        assert await adapters.pumpd.run("account", ACCOUNT, idempotency_key="acc") == account
        with pytest.raises(AlreadyDoneError):
            await adapters.pumpd.run("account", ACCOUNT, idempotency_key="acc-2")
        restaurant = await adapters.pumpd.run(
            "restaurant_registration",
            {"pumpd_user_id": account.ids["pumpd_user_id"], "name": "Joe's Pizza"},
            idempotency_key="rst",
        )
        menu = await adapters.extraction.extract_menu(
            "https://marketplace.example/joes-pizza", restaurant_name="Joe's Pizza", idempotency_key="menu"
        )
        payload = {"pumpd_restaurant_id": restaurant.ids["pumpd_restaurant_id"], "menu": wire.dump(menu)}
        with pytest.raises(RetryableError, match="HTTP 503"):
            await adapters.pumpd.run("menu_import", payload, idempotency_key="imp")
        imported = await adapters.pumpd.run("menu_import", payload, idempotency_key="imp")
        assert imported.data["items"] == len(menu.items)
        found = await adapters.companies.search_by_name("Joe's Pizza")
        details = await adapters.companies.get_company(found[0].company_number)
        assert details.legal_name == "Joe's Pizza Limited"
        image = await adapters.cdn.upload("https://x.example/logo.png", kind="logo", idempotency_key="logo")
        assert image.url.startswith("https://cdn.pumpd.example/")
        async with httpx.AsyncClient(base_url=served_sandbox) as client:
            calls = (await client.get("/_calls", params={"service": "pumpd"})).json()
        assert [c["outcome"] for c in calls] == [
            "ok",
            "replayed",
            "already_done",
            "ok",
            "fault:server_error",
            "ok",
        ]
    finally:
        await adapters.aclose()


async def test_a_time_out_does_not_wait_for_the_sandbox_to_give_up() -> None:
    plan = FaultPlan.from_dict(
        {"hang_ms": 30_000, "rules": [{"service": "cdn", "kind": "timeout", "times": 1}]}
    )
    app = create_sandbox_app(faults=plan)
    adapters = build_adapters(
        "http", base_url="http://sandbox", timeout=0.3, transport=httpx.ASGITransport(app=app)
    )
    started = time.monotonic()
    with pytest.raises(RetryableError, match="timed out"):
        await adapters.cdn.upload("https://x.example/a.jpg", kind="menu_item", idempotency_key="k")
    assert time.monotonic() - started < 2
    await adapters.aclose()
