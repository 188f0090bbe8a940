"""The caller's organisation and its saved settings (e.g. Yolo Mode defaults)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from onboardflow.api.deps import AdminDep, PrincipalDep, ServicesDep
from onboardflow.operations import organisation as ops

router = APIRouter(prefix="/api/organisation", tags=["organisation"])


class OrganisationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    settings: dict[str, Any]
    created_at: datetime


class SettingsUpdate(BaseModel):
    """Keys to set (null removes one). Secret fields are stored encrypted and shown as `***`."""

    model_config = ConfigDict(extra="forbid")

    settings: dict[str, Any]


@router.get("", response_model=OrganisationOut)
async def get_organisation(services: ServicesDep, principal: PrincipalDep) -> OrganisationOut:
    """The caller's organisation; secret settings are shown as `***`."""
    return OrganisationOut.model_validate(await ops.get_organisation(services, principal))


@router.patch("/settings", response_model=OrganisationOut)
async def update_settings(
    body: SettingsUpdate, services: ServicesDep, principal: AdminDep
) -> OrganisationOut:
    """Change saved settings (admins only)."""
    return OrganisationOut.model_validate(await ops.update_settings(services, principal, body.settings))
