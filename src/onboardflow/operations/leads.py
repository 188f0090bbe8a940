"""Lead import (JSON list or CSV) and listing."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from onboardflow.domain.leads import LEAD_FIELDS, LeadInput
from onboardflow.domain.records import Lead, Principal
from onboardflow.errors import InvalidInput
from onboardflow.operations.services import Services
from onboardflow.store import leads as store
from onboardflow.store.paging import Page

MAX_LEADS_PER_IMPORT = 10_000


def parse_leads(items: Sequence[Mapping[str, Any]]) -> list[LeadInput]:
    """Validate every lead; ``InvalidInput`` naming the first bad field as ``items.<i>.<field>``."""
    if len(items) > MAX_LEADS_PER_IMPORT:
        raise InvalidInput("items", f"at most {MAX_LEADS_PER_IMPORT} leads per import")
    parsed, errors = [], []
    for index, item in enumerate(items):
        try:
            parsed.append(LeadInput.model_validate(item))
        except ValidationError as exc:
            for err in exc.errors():
                path = ".".join(str(p) for p in ("items", index, *err["loc"]))
                errors.append({"field": path, "message": err["msg"]})
    if errors:
        raise InvalidInput(errors[0]["field"], errors[0]["message"], errors=errors)
    return parsed


def parse_leads_csv(text: str) -> list[LeadInput]:
    """Leads from CSV text with a header row; unknown columns go into each lead's metadata."""
    if "\x00" in text:
        raise InvalidInput("file", "the CSV contains NUL characters; is it a binary file?")
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    try:
        fieldnames = reader.fieldnames
        rows = list(reader)
    except csv.Error as exc:
        raise InvalidInput("file", f"not a readable CSV: {exc}") from exc
    if not fieldnames or "name" not in [f.strip().lower() for f in fieldnames]:
        raise InvalidInput("file", "the CSV needs a header row with at least a 'name' column")
    items = []
    for row in rows:
        item: dict[str, Any] = {"metadata": {}}
        for key, value in row.items():
            if key is None:
                continue
            column = key.strip().lower()
            value = (value or "").strip()
            if column in LEAD_FIELDS:
                item[column] = value or None
            elif value:
                item["metadata"][column] = value
        items.append(item)
    return parse_leads(items)


async def import_leads(services: Services, principal: Principal, leads: Sequence[LeadInput]) -> list[Lead]:
    """Store validated leads in the caller's organisation, all or none."""
    rows = [lead.model_dump(mode="json") for lead in leads]
    async with services.db.write() as conn:
        return await store.insert_leads(conn, principal.organisation_id, rows)


async def list_leads(
    services: Services, principal: Principal, *, limit: int, offset: int, converted: bool | None = None
) -> Page:
    """A page of the caller's leads."""
    async with services.db.read() as conn:
        return await store.list_leads(
            conn, principal.organisation_id, limit=limit, offset=offset, converted=converted
        )
