"""Building the adapters from configuration: the composition root's one call (STYLE habit 9).

``build_adapters("simulated", seed=..., faults=...)`` gives in-process simulated services sharing one
``Simulation``; ``build_adapters("http", base_url=...)`` gives http adapters (one base URL for all, as
the sandbox serves them, or one per service); ``pumpd_command`` swaps Pumpd for the command adapter
whatever the kind. Nothing connects until the first call; ``Adapters.aclose`` releases HTTP clients.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import httpx

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
from onboardflow.adapters.simulation import Simulation
from onboardflow.errors import InvalidInput

AdapterKind = Literal["simulated", "http"]
ADAPTER_KINDS: Final[tuple[str, ...]] = ("simulated", "http")
SERVICES: Final[tuple[str, ...]] = ("pumpd", "cdn", "extraction", "companies")


@dataclass(frozen=True, slots=True, kw_only=True)
class Adapters:
    """One implementation of every external service. ``simulation`` is set for simulated services
    (its call log and fault plan are readable there)."""

    kind: str
    pumpd: PumpdService
    cdn: ImageCdn
    extraction: ExtractionService
    companies: CompaniesRegister
    simulation: Simulation | None = None
    closers: tuple[Callable[[], Awaitable[None]], ...] = ()

    async def aclose(self) -> None:
        """Release what the adapters hold (HTTP connection pools)."""
        for close in self.closers:
            await close()


def build_adapters(
    kind: str = "simulated",
    *,
    seed: int = 0,
    faults: FaultPlan | Mapping[str, Any] | None = None,
    base_url: str | Mapping[str, str] | None = None,
    pumpd_command: str | Sequence[str] | Mapping[str, Any] | None = None,
    timeout: float = 30.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Adapters:
    """The adapters for ``kind`` (``simulated`` or ``http``).

    ``faults`` (a plan or its dict) applies to simulated services; ``base_url`` (required for http) is
    one URL or a mapping of service name to URL; ``timeout`` is the total seconds per HTTP call and the
    default for commands; ``pumpd_command`` (a command line, an argv list, or the mapping that
    ``CommandSpec.from_mapping`` reads) selects the command adapter for Pumpd; ``transport`` lets
    tests route http adapters to an in-process app. Bad configuration raises ``InvalidInput`` naming
    the setting.
    """
    if kind not in ADAPTER_KINDS:
        raise InvalidInput("adapters", f"must be one of {', '.join(ADAPTER_KINDS)}")
    if timeout <= 0:
        raise InvalidInput("timeout", "must be positive")
    plan = faults if isinstance(faults, FaultPlan) else FaultPlan.from_dict(faults)
    command = _command(pumpd_command, timeout=timeout)
    if kind == "simulated":
        simulation = Simulation(seed=seed, faults=plan)
        return Adapters(
            kind=kind,
            pumpd=command or SimulatedPumpd(simulation),
            cdn=SimulatedCdn(simulation),
            extraction=SimulatedExtraction(simulation),
            companies=SimulatedCompanies(simulation),
            simulation=simulation,
        )
    urls = _base_urls(base_url)
    shared = httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(timeout))

    def client(service: str) -> HttpServiceClient:
        return HttpServiceClient(service=service, base_url=urls[service], timeout=timeout, client=shared)

    return Adapters(
        kind=kind,
        pumpd=command or HttpPumpd(client("pumpd")),
        cdn=HttpCdn(client("cdn")),
        extraction=HttpExtraction(client("extraction")),
        companies=HttpCompanies(client("companies")),
        closers=(shared.aclose,),
    )


def _command(
    config: str | Sequence[str] | Mapping[str, Any] | None, *, timeout: float
) -> CommandPumpd | None:
    if not config:
        return None
    mapping = config if isinstance(config, Mapping) else {"argv": config}
    return CommandPumpd(CommandSpec.from_mapping(mapping, default_timeout=timeout))


def _base_urls(base_url: str | Mapping[str, str] | None) -> dict[str, str]:
    if isinstance(base_url, str) and base_url.strip():
        return dict.fromkeys(SERVICES, base_url.strip())
    if isinstance(base_url, Mapping):
        missing = [service for service in SERVICES if not base_url.get(service)]
        if missing:
            raise InvalidInput(f"base_url.{missing[0]}", "a URL is required for every service")
        return {service: str(base_url[service]).strip() for service in SERVICES}
    raise InvalidInput("base_url", "is required for http adapters")
