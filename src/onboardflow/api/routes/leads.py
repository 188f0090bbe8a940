"""Leads: import (JSON list or CSV) and list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from onboardflow.api.deps import Limit, Offset, PrincipalDep, ServicesDep
from onboardflow.api.schemas import LeadImportOut, LeadOut, PageOut
from onboardflow.domain.leads import LeadInput
from onboardflow.errors import InvalidInput
from onboardflow.operations import leads as ops

router = APIRouter(prefix="/api/leads", tags=["leads"])


@router.post("", response_model=LeadImportOut, status_code=201)
async def import_leads(
    body: list[LeadInput], services: ServicesDep, principal: PrincipalDep
) -> LeadImportOut:
    """Import a JSON list of leads (all or none)."""
    leads = await ops.import_leads(services, principal, ops.parse_leads([b.model_dump() for b in body]))
    return LeadImportOut(imported=len(leads), items=[LeadOut.model_validate(lead) for lead in leads])


@router.post(
    "/import-csv",
    response_model=LeadImportOut,
    status_code=201,
    openapi_extra={
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}
    },
)
async def import_leads_csv(request: Request, services: ServicesDep, principal: PrincipalDep) -> LeadImportOut:
    """Import leads from CSV text (header row with at least `name`)."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("body", "the CSV must be UTF-8 text") from exc
    leads = await ops.import_leads(services, principal, ops.parse_leads_csv(text))
    return LeadImportOut(imported=len(leads), items=[LeadOut.model_validate(lead) for lead in leads])


@router.get("", response_model=PageOut[LeadOut])
async def list_leads(
    services: ServicesDep,
    principal: PrincipalDep,
    limit: Limit = 50,
    offset: Offset = 0,
    converted: Annotated[
        bool | None, Query(description="Only converted (true) or unconverted (false).")
    ] = None,
) -> PageOut[LeadOut]:
    """A page of leads, newest first."""
    page = await ops.list_leads(services, principal, limit=limit, offset=offset, converted=converted)
    return PageOut[LeadOut](
        items=[LeadOut.model_validate(i) for i in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )
