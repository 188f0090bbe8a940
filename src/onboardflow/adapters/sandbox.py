"""The simulated services served over HTTP, so the http adapters are tested for real (SPEC §9).

Routes (the ones the http adapters call, plus control routes under ``/_``):

==========================================  ===============================================
``POST /pumpd/operations/{operation}``      a Pumpd operation; JSON payload, ``Idempotency-Key``
``POST /cdn/uploads``                       ``{"source_url", "kind"}`` -> ``UploadedImage``
``POST /extraction/menu``                   ``{"marketplace_url", "restaurant_name", "cuisine"}``
``POST /extraction/branding``               ``{"source_url", "restaurant_name"}``
``GET /companies/search?name=|address=``    a list of ``CompanySummary``
``GET /companies/{company_number}``         ``CompanyDetails``
``GET /_calls?service=&operation=``         the call log
``POST /_reset``                            forget all state, the call log and fault counters
``GET /_faults``, ``PUT /_faults``          read or replace the fault plan
``GET /_health``                            ``{"status": "ok"}``
==========================================  ===============================================

Typed errors become answers here (the inverse of ``error_mapping``'s status table): already done
409 with ``existing``; permanent 422 (404 for an unknown operation or company); rate limited 429 with
``Retry-After``; other retryable errors 503 (or the injected 5xx status); a simulated time-out holds
the request for the plan's ``hang_ms`` and then answers 504.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Body, FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from onboardflow.adapters import wire
from onboardflow.adapters.cdn.protocol import ImageKind
from onboardflow.adapters.cdn.simulated import SimulatedCdn
from onboardflow.adapters.companies.protocol import CompanySummary
from onboardflow.adapters.companies.simulated import SimulatedCompanies
from onboardflow.adapters.error_mapping import error_body
from onboardflow.adapters.extraction.simulated import SimulatedExtraction
from onboardflow.adapters.faults import FaultPlan, SimulatedTimeout
from onboardflow.adapters.pumpd.protocol import PUMPD_OPERATIONS
from onboardflow.adapters.pumpd.simulated import SimulatedPumpd
from onboardflow.adapters.simulation import Simulation
from onboardflow.errors import AlreadyDoneError, InvalidInput, JobError, PermanentError, RetryableError

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


@dataclass(frozen=True, slots=True, kw_only=True)
class SandboxServices:
    """The simulated services one sandbox serves, sharing one ``Simulation``."""

    simulation: Simulation
    pumpd: SimulatedPumpd
    cdn: SimulatedCdn
    extraction: SimulatedExtraction
    companies: SimulatedCompanies

    def reset(self) -> None:
        """Forget all state, the call log and the fault counters."""
        self.simulation.reset()
        for service in (self.pumpd, self.cdn, self.extraction, self.companies):
            service.reset()


class UploadRequest(BaseModel):
    source_url: str
    kind: ImageKind


class MenuRequest(BaseModel):
    marketplace_url: str
    restaurant_name: str
    cuisine: str | None = None


class BrandingRequest(BaseModel):
    source_url: str
    restaurant_name: str


def create_sandbox_app(seed: int = 0, faults: FaultPlan | None = None) -> FastAPI:
    """An ASGI app serving fresh simulated services with ``seed`` and ``faults``."""
    simulation = Simulation(seed=seed, faults=faults)
    services = SandboxServices(
        simulation=simulation,
        pumpd=SimulatedPumpd(simulation),
        cdn=SimulatedCdn(simulation),
        extraction=SimulatedExtraction(simulation),
        companies=SimulatedCompanies(simulation),
    )
    app = FastAPI(
        title="onboardflow sandbox",
        summary="Simulated Pumpd, image CDN, extraction service and companies register.",
    )
    app.state.services = services

    @app.exception_handler(JobError)
    async def job_error(request: Request, exc: JobError) -> JSONResponse:
        return await error_response(exc)

    @app.exception_handler(InvalidInput)
    async def invalid_input(request: Request, exc: InvalidInput) -> JSONResponse:
        return JSONResponse(
            {"error": {"type": "permanent", "message": exc.message, "errors": exc.errors}}, 422
        )

    @app.post("/pumpd/operations/{operation}")
    async def pumpd_operation(
        operation: str, payload: Annotated[dict[str, Any], Body()], idempotency_key: IdempotencyKey = None
    ) -> JSONResponse:
        if operation not in PUMPD_OPERATIONS:
            return await error_response(PermanentError(f"pumpd: unknown operation {operation!r}"), status=404)
        if not idempotency_key:
            return await error_response(PermanentError("the Idempotency-Key header is required"), status=400)
        result = await services.pumpd.run(operation, payload, idempotency_key=idempotency_key)
        return JSONResponse(result.to_dict())

    @app.post("/cdn/uploads")
    async def cdn_upload(request: UploadRequest, idempotency_key: IdempotencyKey = None) -> JSONResponse:
        if not idempotency_key:
            return await error_response(PermanentError("the Idempotency-Key header is required"), status=400)
        image = await services.cdn.upload(
            request.source_url, kind=request.kind, idempotency_key=idempotency_key
        )
        return JSONResponse(wire.dump(image))

    @app.post("/extraction/menu")
    async def extraction_menu(request: MenuRequest, idempotency_key: IdempotencyKey = None) -> JSONResponse:
        menu = await services.extraction.extract_menu(
            request.marketplace_url,
            restaurant_name=request.restaurant_name,
            cuisine=request.cuisine,
            idempotency_key=idempotency_key or "",
        )
        return JSONResponse(wire.dump(menu))

    @app.post("/extraction/branding")
    async def extraction_branding(
        request: BrandingRequest, idempotency_key: IdempotencyKey = None
    ) -> JSONResponse:
        branding = await services.extraction.extract_branding(
            request.source_url, restaurant_name=request.restaurant_name, idempotency_key=idempotency_key or ""
        )
        return JSONResponse(wire.dump(branding))

    @app.get("/companies/search")
    async def companies_search(
        name: str | None = None, address: str | None = None, idempotency_key: IdempotencyKey = None
    ) -> JSONResponse:
        if (name is None) == (address is None):
            return await error_response(PermanentError("give exactly one of name or address"), status=422)
        if name is not None:
            found = await services.companies.search_by_name(name, idempotency_key=idempotency_key)
        else:
            found = await services.companies.search_by_address(address or "", idempotency_key=idempotency_key)
        return JSONResponse(wire.dump(found, list[CompanySummary]))

    @app.get("/companies/{company_number}")
    async def companies_get(company_number: str, idempotency_key: IdempotencyKey = None) -> JSONResponse:
        try:
            details = await services.companies.get_company(company_number, idempotency_key=idempotency_key)
        except PermanentError as exc:
            return await error_response(exc, status=404)
        return JSONResponse(wire.dump(details))

    @app.get("/_calls")
    async def calls(service: str | None = None, operation: str | None = None) -> JSONResponse:
        return JSONResponse([call.to_dict() for call in simulation.calls_to(service, operation)])

    @app.post("/_reset")
    async def reset() -> dict[str, bool]:
        services.reset()
        return {"reset": True}

    @app.get("/_faults")
    async def get_faults() -> dict[str, Any]:
        return simulation.faults.to_dict()

    @app.put("/_faults")
    async def put_faults(plan: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        simulation.set_faults(FaultPlan.from_dict(plan))
        return simulation.faults.to_dict()

    @app.get("/_health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


async def error_response(error: JobError, *, status: int | None = None) -> JSONResponse:
    """The answer that tells an http adapter about ``error`` (table in the module docstring)."""
    headers: dict[str, str] = {}
    if isinstance(error, SimulatedTimeout):
        await asyncio.sleep(error.hang_seconds)
        status = 504
    elif status is None and isinstance(error, AlreadyDoneError):
        status = 409
    elif status is None and isinstance(error, PermanentError):
        status = 422
    elif status is None and isinstance(error, RetryableError):
        injected = error.details.get("status")
        status = 429 if error.retry_after is not None else injected if isinstance(injected, int) else 503
    if isinstance(error, RetryableError) and error.retry_after is not None:
        headers["Retry-After"] = str(math.ceil(error.retry_after))
    return JSONResponse(error_body(error), status_code=status or 500, headers=headers)
