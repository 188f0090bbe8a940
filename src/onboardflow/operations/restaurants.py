"""Restaurant use cases."""

from __future__ import annotations

from uuid import UUID

from onboardflow.domain.leads import RestaurantInput, RestaurantUpdate
from onboardflow.domain.records import Principal, Restaurant
from onboardflow.operations.services import Services
from onboardflow.store import restaurants as store
from onboardflow.store.paging import Page


async def create_restaurant(services: Services, principal: Principal, data: RestaurantInput) -> Restaurant:
    """Create one restaurant in the caller's organisation."""
    async with services.db.write() as conn:
        (restaurant,) = await store.insert_restaurants(
            conn, principal.organisation_id, [data.model_dump(mode="json")]
        )
    return restaurant


async def list_restaurants(
    services: Services, principal: Principal, *, limit: int, offset: int, search: str | None = None
) -> Page:
    """A page of the caller's restaurants."""
    async with services.db.read() as conn:
        return await store.list_restaurants(
            conn, principal.organisation_id, limit=limit, offset=offset, search=search
        )


async def get_restaurant(services: Services, principal: Principal, restaurant_id: UUID) -> Restaurant:
    """One of the caller's restaurants."""
    async with services.db.read() as conn:
        return await store.get_restaurant(conn, principal.organisation_id, restaurant_id)


async def update_restaurant(
    services: Services, principal: Principal, restaurant_id: UUID, data: RestaurantUpdate
) -> Restaurant:
    """Change the fields given in ``data`` of one of the caller's restaurants."""
    values = data.model_dump(mode="json", exclude_unset=True)
    async with services.db.write() as conn:
        if not values:
            return await store.get_restaurant(conn, principal.organisation_id, restaurant_id)
        return await store.update_restaurant(conn, principal.organisation_id, restaurant_id, values)
