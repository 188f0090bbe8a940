"""Restaurants: create, list, get, update."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from onboardflow.api.deps import Limit, Offset, PrincipalDep, ServicesDep
from onboardflow.api.schemas import PageOut, RestaurantOut
from onboardflow.domain.leads import RestaurantInput, RestaurantUpdate
from onboardflow.operations import restaurants as ops

router = APIRouter(prefix="/api/restaurants", tags=["restaurants"])


@router.post("", response_model=RestaurantOut, status_code=201)
async def create_restaurant(
    body: RestaurantInput, services: ServicesDep, principal: PrincipalDep
) -> RestaurantOut:
    """Create a restaurant."""
    return RestaurantOut.model_validate(await ops.create_restaurant(services, principal, body))


@router.get("", response_model=PageOut[RestaurantOut])
async def list_restaurants(
    services: ServicesDep,
    principal: PrincipalDep,
    limit: Limit = 50,
    offset: Offset = 0,
    search: Annotated[str | None, Query(max_length=200, description="Part of the name.")] = None,
) -> PageOut[RestaurantOut]:
    """A page of restaurants, newest first."""
    page = await ops.list_restaurants(services, principal, limit=limit, offset=offset, search=search)
    return PageOut[RestaurantOut](
        items=[RestaurantOut.model_validate(i) for i in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{restaurant_id}", response_model=RestaurantOut)
async def get_restaurant(
    restaurant_id: UUID, services: ServicesDep, principal: PrincipalDep
) -> RestaurantOut:
    """One restaurant."""
    return RestaurantOut.model_validate(await ops.get_restaurant(services, principal, restaurant_id))


@router.patch("/{restaurant_id}", response_model=RestaurantOut)
async def update_restaurant(
    restaurant_id: UUID, body: RestaurantUpdate, services: ServicesDep, principal: PrincipalDep
) -> RestaurantOut:
    """Change some fields of a restaurant."""
    return RestaurantOut.model_validate(await ops.update_restaurant(services, principal, restaurant_id, body))
