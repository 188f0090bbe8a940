"""The shared HTTP client: headers, JSON, the total deadline, and status and exception mapping."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import httpx
import pytest

from onboardflow.adapters.http_client import HttpServiceClient, read_key
from onboardflow.adapters.pumpd.http import HttpPumpd
from onboardflow.errors import AlreadyDoneError, JobError, PermanentError, RetryableError

Handler = Callable[[httpx.Request], httpx.Response]


def client_for(
    handler: Handler, *, timeout: float = 5.0, base_url: str = "http://svc.example"
) -> HttpServiceClient:
    return HttpServiceClient(
        service="pumpd", base_url=base_url, timeout=timeout, transport=httpx.MockTransport(handler)
    )


async def test_every_call_sends_the_idempotency_key_and_json() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": {"ok": True}, "ids": {}, "warning": None})

    client = client_for(handler)
    result = await HttpPumpd(client).run("account", {"email": "a@b.nz"}, idempotency_key="key-7")
    await client.aclose()
    assert result.data == {"ok": True}
    request = seen[0]
    assert request.url == "http://svc.example/pumpd/operations/account"
    assert request.headers["Idempotency-Key"] == "key-7"
    assert json.loads(request.content) == {"email": "a@b.nz"}


async def test_reads_get_a_stable_derived_idempotency_key() -> None:
    keys: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["Idempotency-Key"])
        return httpx.Response(200, json=[])

    client = client_for(handler)
    for _ in range(2):
        await client.request("GET", "/companies/search", operation="search", params={"name": "Joe"})
    await client.request("GET", "/companies/search", operation="search", params={"name": "Ann"})
    await client.aclose()
    assert keys[0] == keys[1] == read_key("GET", "/companies/search", {"name": "Joe"})
    assert keys[2] != keys[0]


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, PermanentError), (401, PermanentError), (404, PermanentError), (408, RetryableError),
     (409, AlreadyDoneError), (422, PermanentError), (429, RetryableError), (500, RetryableError),
     (503, RetryableError)],
)  # fmt: skip
async def test_error_statuses_become_typed_errors(status: int, error: type[JobError]) -> None:
    client = client_for(lambda request: httpx.Response(status, json={"error": {"message": "nope"}}))
    with pytest.raises(error, match=f"HTTP {status}: nope"):
        await client.request("POST", "/x", operation="op", idempotency_key="k")
    await client.aclose()


async def test_too_many_requests_honours_retry_after() -> None:
    client = client_for(lambda request: httpx.Response(429, headers={"Retry-After": "17"}, text="slow down"))
    with pytest.raises(RetryableError) as caught:
        await client.request("POST", "/x", operation="op", idempotency_key="k")
    await client.aclose()
    assert caught.value.retry_after == 17


@pytest.mark.parametrize(
    ("exc", "error"),
    [
        (httpx.ConnectError("connection refused"), RetryableError),
        (httpx.ReadTimeout("read timed out"), RetryableError),
        (httpx.RemoteProtocolError("server disconnected"), RetryableError),
    ],
)
async def test_transport_failures_become_retryable(exc: Exception, error: type[JobError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    client = client_for(handler)
    with pytest.raises(error):
        await client.request("POST", "/x", operation="op", idempotency_key="k")
    await client.aclose()


async def test_the_total_deadline_bounds_a_slow_answer() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json={})

    client = HttpServiceClient(service="pumpd", timeout=0.2, transport=httpx.MockTransport(handler))
    started = time.monotonic()
    with pytest.raises(RetryableError, match=r"timed out: no answer within 0.2s"):
        await client.request("POST", "http://svc.example/x", operation="op", idempotency_key="k")
    await client.aclose()
    assert time.monotonic() - started < 2


async def test_malformed_json_in_a_success_is_retryable() -> None:
    client = client_for(lambda request: httpx.Response(200, text="<html>gateway hiccup</html>"))
    with pytest.raises(RetryableError, match="malformed JSON"):
        await client.request("POST", "/x", operation="op", idempotency_key="k")
    await client.aclose()


async def test_an_answer_breaking_the_contract_is_permanent() -> None:
    client = client_for(lambda request: httpx.Response(200, json={"data": "not an object"}))
    with pytest.raises(PermanentError, match="does not match the contract"):
        await HttpPumpd(client).run("account", {}, idempotency_key="k")
    await client.aclose()


async def test_a_base_url_with_an_unsupported_scheme_is_permanent() -> None:
    client = HttpServiceClient(service="pumpd", base_url="ftp://svc.example", timeout=1)
    with pytest.raises(PermanentError, match="unsupported URL scheme"):
        await client.request("POST", "/x", operation="op", idempotency_key="k")
    await client.aclose()


async def test_a_refused_connection_to_a_real_port_is_retryable() -> None:
    client = HttpServiceClient(service="pumpd", base_url="http://127.0.0.1:9", timeout=2)
    with pytest.raises(RetryableError, match="connection failed"):
        await client.request("POST", "/x", operation="op", idempotency_key="k")
    await client.aclose()
