"""The caller's organisation and its saved settings (secrets sealed at rest, never shown)."""

from __future__ import annotations

from typing import Any

from onboardflow.domain.records import Organisation, Principal
from onboardflow.domain.redaction import redact
from onboardflow.errors import InvalidInput
from onboardflow.operations.services import Services
from onboardflow.store import accounts as store

MAX_SETTINGS_KEYS = 200


async def get_organisation(services: Services, principal: Principal) -> Organisation:
    """The caller's organisation with its settings redacted."""
    async with services.db.read() as conn:
        org = await store.get_organisation(conn, principal.organisation_id)
    return Organisation.from_row({**org.to_dict(), "settings": redact(org.settings)})


async def read_settings(services: Services, principal: Principal) -> dict[str, Any]:
    """The caller's organisation settings with secrets opened (for use cases, never for responses)."""
    async with services.db.read() as conn:
        org = await store.get_organisation(conn, principal.organisation_id)
    opened: dict[str, Any] = services.secrets.open(org.settings)
    return opened


async def update_settings(services: Services, principal: Principal, changes: dict[str, Any]) -> Organisation:
    """Merge ``changes`` into the saved settings (a null value removes a key); secrets are sealed."""
    if len(changes) > MAX_SETTINGS_KEYS:
        raise InvalidInput("settings", f"at most {MAX_SETTINGS_KEYS} keys")
    async with services.db.write() as conn:
        org = await store.get_organisation(conn, principal.organisation_id)
        merged = {**org.settings}
        for key, value in changes.items():
            if value is None:
                merged.pop(key, None)
            elif value == "***" and key in merged:
                continue  # the redacted placeholder sent back unchanged keeps the stored secret
            else:
                merged[key] = value
        await store.update_organisation_settings(
            conn, principal.organisation_id, services.secrets.seal(merged)
        )
    return await get_organisation(services, principal)
