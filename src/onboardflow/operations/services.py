"""The composition root's product: everything a use case needs, built once per process."""

from __future__ import annotations

from dataclasses import dataclass

from onboardflow.config import Settings
from onboardflow.store.engine import Database
from onboardflow.store.secrets import SecretBox


@dataclass(slots=True)
class Services:
    """Settings, the database and the secret box of one process."""

    settings: Settings
    db: Database
    secrets: SecretBox


def build_services(settings: Settings) -> Services:
    """Build the services for ``settings`` (connects lazily, nothing at import time)."""
    return Services(
        settings=settings,
        db=Database(settings.database_url, pool_size=max(5, settings.worker_concurrency)),
        secrets=SecretBox(settings.resolved_secret_key),
    )


async def close_services(services: Services) -> None:
    """Release the connections of ``services``."""
    await services.db.dispose()
