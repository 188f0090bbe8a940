"""Fixtures of the adapter tests: every implementation of an interface, behind one factory each.

``make_pumpd`` is parametrized over the simulated, http (through ``httpx.ASGITransport`` to the
sandbox app) and command (``scripts/fake_pumpd.py``) implementations; ``make_cdn``,
``make_extraction`` and ``make_companies`` over simulated and http. A factory takes a fault plan
(as settings would pass it) and gives the service plus a way to read its call log.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import httpx
import pytest
import pytest_asyncio

from onboardflow.adapters.cdn.http import HttpCdn
from onboardflow.adapters.cdn.protocol import ImageCdn
from onboardflow.adapters.cdn.simulated import SimulatedCdn
from onboardflow.adapters.companies.http import HttpCompanies
from onboardflow.adapters.companies.protocol import CompaniesRegister
from onboardflow.adapters.companies.simulated import SimulatedCompanies
from onboardflow.adapters.extraction.http import HttpExtraction
from onboardflow.adapters.extraction.protocol import ExtractionService
from onboardflow.adapters.extraction.simulated import SimulatedExtraction
from onboardflow.adapters.faults import FaultPlan
from onboardflow.adapters.http_client import HttpServiceClient
from onboardflow.adapters.pumpd.command import CommandPumpd, CommandSpec
from onboardflow.adapters.pumpd.http import HttpPumpd
from onboardflow.adapters.pumpd.protocol import PumpdService
from onboardflow.adapters.pumpd.simulated import SimulatedPumpd
from onboardflow.adapters.sandbox import create_sandbox_app
from onboardflow.adapters.simulation import Simulation

SCRIPTS = Path(__file__).parent / "scripts"
FAKE_PUMPD = SCRIPTS / "fake_pumpd.py"

S = TypeVar("S")
Calls = Callable[[], Awaitable[list[dict[str, Any]]]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Harness(Generic[S]):
    """One implementation under test and its service's call log."""

    kind: str
    service: S
    calls: Calls


class Factory(Protocol[S]):
    async def __call__(
        self, faults: Mapping[str, Any] | None = None, *, timeout: float = 10.0, seed: int = 0
    ) -> Harness[S]: ...


class SandboxClients:
    """Builds http clients routed to fresh sandbox apps, and closes them afterwards."""

    def __init__(self) -> None:
        self._clients: list[httpx.AsyncClient] = []

    def connect(self, faults: Mapping[str, Any] | None, *, seed: int) -> httpx.AsyncClient:
        app = create_sandbox_app(seed=seed, faults=FaultPlan.from_dict(faults))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox")
        self._clients.append(client)
        return client

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()


def sandbox_calls(client: httpx.AsyncClient) -> Calls:
    async def calls() -> list[dict[str, Any]]:
        answer = await client.get("/_calls")
        answer.raise_for_status()
        result: list[dict[str, Any]] = answer.json()
        return result

    return calls


def simulation_calls(simulation: Simulation) -> Calls:
    async def calls() -> list[dict[str, Any]]:
        return [call.to_dict() for call in simulation.calls]

    return calls


@pytest_asyncio.fixture
async def sandboxes() -> AsyncIterator[SandboxClients]:
    clients = SandboxClients()
    yield clients
    await clients.aclose()


def command_env(state: Path, faults: Mapping[str, Any] | None, seed: int) -> dict[str, str]:
    """The environment that points ``fake_pumpd.py`` at its state file, faults and seed."""
    return {
        "FAKE_PUMPD_STATE": str(state),
        "FAKE_PUMPD_FAULTS": json.dumps(FaultPlan.from_dict(faults).to_dict()),
        "FAKE_PUMPD_SEED": str(seed),
    }


def fake_pumpd_spec(state: Path, faults: Mapping[str, Any] | None = None, **overrides: Any) -> CommandSpec:
    """A command spec running ``fake_pumpd.py`` with the operation as its last argument."""
    env = {**command_env(state, faults, overrides.pop("seed", 0)), **overrides.pop("env", {})}
    return CommandSpec(argv=(sys.executable, str(FAKE_PUMPD)), env=env, kill_grace=0.5, **overrides)


@pytest_asyncio.fixture(params=["simulated", "http", "command"])
async def make_pumpd(
    request: pytest.FixtureRequest, sandboxes: SandboxClients, tmp_path: Path
) -> Factory[PumpdService]:
    kind: str = request.param
    made = 0

    async def make(
        faults: Mapping[str, Any] | None = None, *, timeout: float = 10.0, seed: int = 0
    ) -> Harness[PumpdService]:
        nonlocal made
        made += 1
        if kind == "simulated":
            simulation = Simulation(seed=seed, faults=FaultPlan.from_dict(faults))
            return Harness(kind=kind, service=SimulatedPumpd(simulation), calls=simulation_calls(simulation))
        if kind == "http":
            client = sandboxes.connect(faults, seed=seed)
            service = HttpPumpd(HttpServiceClient(service="pumpd", timeout=timeout, client=client))
            return Harness(kind=kind, service=service, calls=sandbox_calls(client))
        state = tmp_path / f"pumpd-{made}.json"

        async def calls() -> list[dict[str, Any]]:
            if not state.exists():
                return []
            result: list[dict[str, Any]] = json.loads(state.read_text())["simulation"]["calls"]
            return result

        command = CommandPumpd(fake_pumpd_spec(state, faults, seed=seed, timeout=timeout))
        return Harness(kind=kind, service=command, calls=calls)

    return make


@pytest_asyncio.fixture(params=["simulated", "http"])
async def make_cdn(request: pytest.FixtureRequest, sandboxes: SandboxClients) -> Factory[ImageCdn]:
    kind: str = request.param

    async def make(
        faults: Mapping[str, Any] | None = None, *, timeout: float = 10.0, seed: int = 0
    ) -> Harness[ImageCdn]:
        if kind == "simulated":
            simulation = Simulation(seed=seed, faults=FaultPlan.from_dict(faults))
            return Harness(kind=kind, service=SimulatedCdn(simulation), calls=simulation_calls(simulation))
        client = sandboxes.connect(faults, seed=seed)
        service = HttpCdn(HttpServiceClient(service="cdn", timeout=timeout, client=client))
        return Harness(kind=kind, service=service, calls=sandbox_calls(client))

    return make


@pytest_asyncio.fixture(params=["simulated", "http"])
async def make_extraction(
    request: pytest.FixtureRequest, sandboxes: SandboxClients
) -> Factory[ExtractionService]:
    kind: str = request.param

    async def make(
        faults: Mapping[str, Any] | None = None, *, timeout: float = 10.0, seed: int = 0
    ) -> Harness[ExtractionService]:
        if kind == "simulated":
            simulation = Simulation(seed=seed, faults=FaultPlan.from_dict(faults))
            service = SimulatedExtraction(simulation)
            return Harness(kind=kind, service=service, calls=simulation_calls(simulation))
        client = sandboxes.connect(faults, seed=seed)
        http = HttpExtraction(HttpServiceClient(service="extraction", timeout=timeout, client=client))
        return Harness(kind=kind, service=http, calls=sandbox_calls(client))

    return make


@pytest_asyncio.fixture(params=["simulated", "http"])
async def make_companies(
    request: pytest.FixtureRequest, sandboxes: SandboxClients
) -> Factory[CompaniesRegister]:
    kind: str = request.param

    async def make(
        faults: Mapping[str, Any] | None = None, *, timeout: float = 10.0, seed: int = 0
    ) -> Harness[CompaniesRegister]:
        if kind == "simulated":
            simulation = Simulation(seed=seed, faults=FaultPlan.from_dict(faults))
            service = SimulatedCompanies(simulation)
            return Harness(kind=kind, service=service, calls=simulation_calls(simulation))
        client = sandboxes.connect(faults, seed=seed)
        http = HttpCompanies(HttpServiceClient(service="companies", timeout=timeout, client=client))
        return Harness(kind=kind, service=http, calls=sandbox_calls(client))

    return make


def rule(service: str, operation: str, kind: str, **extra: Any) -> dict[str, Any]:
    """A fault plan with one rule that fails the first call (unless ``extra`` says otherwise)."""
    body: dict[str, Any] = {"service": service, "operation": operation, "kind": kind, **extra}
    if "rate" not in body:
        body.setdefault("times", 1)
    return {"rules": [body], "hang_ms": 5_000}
