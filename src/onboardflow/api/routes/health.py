"""Liveness and readiness, the only routes without authentication."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from onboardflow.api.deps import ServicesDep
from onboardflow.api.schemas import HealthOut
from onboardflow.errors import StoreUnavailable

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut)
async def healthz() -> HealthOut:
    """The process is up."""
    return HealthOut(status="ok")


@router.get("/readyz", response_model=HealthOut, responses={503: {"model": HealthOut}})
async def readyz(services: ServicesDep) -> HealthOut | JSONResponse:
    """The process can reach its database."""
    try:
        await services.db.ping()
    except StoreUnavailable:
        return JSONResponse({"status": "unavailable", "database": services.db.dialect}, status_code=503)
    return HealthOut(status="ok", database=services.db.dialect)
