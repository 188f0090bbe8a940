"""Generic job types that change a restaurant's stored menu (SPEC §6).

Each handler loads the restaurant in its organisation, applies a pure transformation from
``domain.menus`` and stores the result in one transaction that also records the job's id on the
restaurant, so a job delivered twice (at-least-once) changes the menu once. Handlers that call an
external service pass the job's idempotency key, the same for every attempt.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from onboardflow.adapters import wire
from onboardflow.domain import menus
from onboardflow.domain.records import Restaurant
from onboardflow.errors import InvalidInput, NotFound, PermanentError
from onboardflow.runtime.context import JobContext
from onboardflow.runtime.registry import Registry
from onboardflow.store import restaurants as store

menu_jobs = Registry()

APPLIED_KEY = "applied_jobs"
APPLIED_KEEP = 50
MenuChange = Callable[[dict[str, Any]], tuple[dict[str, Any], int]]


def _target(ctx: JobContext) -> tuple[UUID, UUID]:
    if ctx.job.organisation_id is None or ctx.job.restaurant_id is None:
        raise PermanentError(f"a {ctx.job.job_type} job needs an organisation and a restaurant")
    return ctx.job.organisation_id, ctx.job.restaurant_id


def _objects(ctx: JobContext, key: str) -> list[Mapping[str, Any]]:
    value = ctx.payload.get(key)
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise PermanentError(f"payload.{key} must be a list of objects")
    return value


async def load_restaurant(ctx: JobContext) -> Restaurant:
    """The job's restaurant (``PermanentError`` if it is gone)."""
    organisation_id, restaurant_id = _target(ctx)
    async with ctx.deps.db.read() as conn:
        try:
            return await store.get_restaurant(conn, organisation_id, restaurant_id)
        except NotFound as exc:
            raise PermanentError("the restaurant no longer exists") from exc


async def change_menu(ctx: JobContext, change: MenuChange, **extra: Any) -> dict[str, Any]:
    """Apply ``change`` to the restaurant's menu once per job (and set ``extra`` columns); a summary."""
    organisation_id, restaurant_id = _target(ctx)
    job_key = str(ctx.job.id)
    async with ctx.deps.db.write() as conn:
        try:
            restaurant = await store.get_restaurant(conn, organisation_id, restaurant_id)
        except NotFound as exc:
            raise PermanentError("the restaurant no longer exists") from exc
        applied = list(restaurant.metadata.get(APPLIED_KEY, []))
        if job_key in applied:
            return {"already_applied": True}
        current = menus.normalise_menu(restaurant.menu) if restaurant.menu else menus.normalise_menu({})
        try:
            menu, changed = change(current)
        except InvalidInput as exc:
            raise PermanentError(exc.message) from exc
        metadata = {**restaurant.metadata, APPLIED_KEY: [*applied, job_key][-APPLIED_KEEP:]}
        await store.update_restaurant(
            conn, organisation_id, restaurant_id, {"menu": menu, "metadata": metadata, **extra}
        )
    items = sum(len(c["items"]) for c in menu["categories"])
    return {"changed_items": changed, "items": items, "categories": len(menu["categories"])}


@menu_jobs.register("add-item-tags")
async def add_item_tags(ctx: JobContext) -> dict[str, Any]:
    """Tags menu items by rules (``{"tag", "match"}``, or ``{"auto": true}`` to infer common tags)."""
    rules = _objects(ctx, "rules")
    return await change_menu(ctx, lambda menu: menus.apply_item_tags(menu, rules))


@menu_jobs.register("add-option-sets")
async def add_option_sets(ctx: JobContext) -> dict[str, Any]:
    """Attaches option sets to the menu items they apply to."""
    option_sets = _objects(ctx, "option_sets")
    return await change_menu(ctx, lambda menu: menus.apply_option_sets(menu, option_sets))


@menu_jobs.register("import-csv")
async def import_csv(ctx: JobContext) -> dict[str, Any]:
    """Imports a menu from CSV text (``payload.csv``), replacing or merging into the stored one."""
    text = ctx.payload.get("csv")
    mode = ctx.payload.get("mode", "replace")
    if not isinstance(text, str) or not text.strip():
        raise PermanentError("payload.csv must be the CSV text of a menu")
    if mode not in ("replace", "merge"):
        raise PermanentError("payload.mode must be 'replace' or 'merge'")

    def replace(menu: dict[str, Any]) -> tuple[dict[str, Any], int]:
        imported = menus.parse_menu_csv(text)
        result = imported if mode == "replace" else menus.merge_menus([menu, imported])
        return result, sum(len(c["items"]) for c in imported["categories"])

    return await change_menu(ctx, replace)


@menu_jobs.register("merge-menus")
async def merge_menus(ctx: JobContext) -> dict[str, Any]:
    """Merges other versions of the menu (``payload.menus``) into the stored one; later ones win."""
    others = _objects(ctx, "menus")

    def merge(menu: dict[str, Any]) -> tuple[dict[str, Any], int]:
        merged = menus.merge_menus([menu, *others])
        return merged, sum(len(c["items"]) for c in merged["categories"])

    return await change_menu(ctx, merge)


@menu_jobs.register("bulk-update")
async def bulk_update(ctx: JobContext) -> dict[str, Any]:
    """Changes many items at once (prices by percent, fields by category, removals, renames)."""
    changes = ctx.payload.get("changes")
    if not isinstance(changes, Mapping | list):
        raise PermanentError("payload.changes must be an object or a list of objects")
    return await change_menu(ctx, lambda menu: menus.bulk_update(menu, changes))


@menu_jobs.register("generate-content")
async def generate_content(ctx: JobContext) -> dict[str, Any]:
    """Writes a description for every menu item that has none, from its name, category and tags."""
    return await change_menu(ctx, menus.describe_items)


@menu_jobs.register("extract-menu", timeout_seconds=300)
async def extract_menu(ctx: JobContext) -> dict[str, Any]:
    """Extracts the menu from the restaurant's marketplace page and stores it (``merge``: merged in)."""
    restaurant = await load_restaurant(ctx)
    source = restaurant.marketplace_url or restaurant.website
    if not source:
        raise PermanentError("the restaurant has no marketplace URL or website to extract from")
    extracted = await ctx.deps.adapters.extraction.extract_menu(
        source,
        restaurant_name=restaurant.name,
        idempotency_key=ctx.idempotency_key,
        cuisine=restaurant.cuisine,
    )
    fresh = menus.normalise_menu(wire.dump(extracted))
    merge = bool(ctx.payload.get("merge"))

    def store_menu(menu: dict[str, Any]) -> tuple[dict[str, Any], int]:
        result = menus.merge_menus([menu, fresh]) if merge and menu["categories"] else fresh
        return result, sum(len(c["items"]) for c in fresh["categories"])

    return await change_menu(ctx, store_menu)


@menu_jobs.register("image-upload", timeout_seconds=600)
async def image_upload(ctx: JobContext) -> dict[str, Any]:
    """Uploads the logo and the menu item images to the image CDN and stores the CDN URLs."""
    restaurant = await load_restaurant(ctx)
    cdn = ctx.deps.adapters.cdn
    uploaded: dict[str, str] = {}
    menu = menus.normalise_menu(restaurant.menu) if restaurant.menu else None
    for category in menu["categories"] if menu else []:
        for item in category["items"]:
            source = item.get("image_url")
            if source and source not in uploaded:
                image = await cdn.upload(
                    source, kind="menu_item", idempotency_key=f"{ctx.idempotency_key}:{source}"
                )
                uploaded[source] = image.url
    branding = dict(restaurant.branding or {})
    logo = branding.get("logo_url")
    if logo and "cdn_logo_url" not in branding:
        image = await cdn.upload(logo, kind="logo", idempotency_key=f"{ctx.idempotency_key}:logo")
        branding["cdn_logo_url"] = image.url

    def point_at_cdn(current: dict[str, Any]) -> tuple[dict[str, Any], int]:
        changed = 0
        for category in current["categories"]:
            for item in category["items"]:
                if item.get("image_url") in uploaded:
                    item["image_url"] = uploaded[item["image_url"]]
                    changed += 1
        return current, changed

    summary = await change_menu(ctx, point_at_cdn, branding=branding)
    return {**summary, "uploaded": len(uploaded) + (1 if logo else 0)}
