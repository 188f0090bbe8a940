"""The composition root's product: everything a use case needs, built once per process."""

from __future__ import annotations

from dataclasses import dataclass, field

from onboardflow.adapters.registry import Adapters, build_adapters
from onboardflow.config import Settings
from onboardflow.runtime.context import RuntimeDeps
from onboardflow.runtime.handlers import default_registry
from onboardflow.runtime.registry import Registry
from onboardflow.store.engine import Database
from onboardflow.store.secrets import SecretBox


@dataclass(slots=True)
class Services:
    """Settings, the database, the secret box, the external services and the job handlers of one process."""

    settings: Settings
    db: Database
    secrets: SecretBox
    adapters: Adapters
    registry: Registry = field(default_factory=default_registry)

    def runtime_deps(self) -> RuntimeDeps:
        """What workers and handlers of this process use."""
        return RuntimeDeps(settings=self.settings, db=self.db, secrets=self.secrets, adapters=self.adapters)


def build_adapters_for(settings: Settings) -> Adapters:
    """The external services ``settings`` ask for (simulated by default)."""
    return build_adapters(
        settings.adapters,
        seed=settings.simulation_seed,
        faults=settings.simulation_faults or None,
        base_url=settings.service_base_url,
        pumpd_command=settings.pumpd_command,
        timeout=settings.service_timeout_seconds,
    )


def build_services(settings: Settings) -> Services:
    """Build the services for ``settings`` (connects lazily, nothing at import time)."""
    return Services(
        settings=settings,
        # One connection per job slot, plus the worker's claim, flush, heartbeat and maintenance.
        db=Database(settings.database_url, pool_size=settings.worker_concurrency + 5),
        secrets=SecretBox(settings.resolved_secret_key),
        adapters=build_adapters_for(settings),
        registry=default_registry(settings.handler_modules),
    )


def build_worker_deps(settings: Settings) -> tuple[RuntimeDeps, Registry]:
    """The runtime dependencies and handlers of a worker process."""
    services = build_services(settings)
    return services.runtime_deps(), services.registry


async def close_services(services: Services) -> None:
    """Release the connections of ``services``."""
    await services.adapters.aclose()
    await services.db.dispose()
