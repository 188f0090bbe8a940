"""The app factory: the composition root of the HTTP service."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.sessions import SessionMiddleware

from onboardflow import __version__
from onboardflow.api.errors import install_error_handlers
from onboardflow.api.limits import BodySizeLimit
from onboardflow.api.routes import (
    actions,
    batches,
    events,
    health,
    jobs,
    leads,
    organisation,
    registrations,
    restaurants,
)
from onboardflow.config import Settings
from onboardflow.operations.services import Services, build_services, close_services
from onboardflow.runtime.worker import Worker
from onboardflow.web import routes as web_routes

log = logging.getLogger("onboardflow")


def create_app(settings: Settings, *, services: Services | None = None) -> FastAPI:
    """Build the API and web UI for ``settings``; connections open lazily, nothing at import time."""
    owned = services is None
    active = services or build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = active
        worker: Worker | None = None
        worker_task: asyncio.Task[None] | None = None
        if settings.embedded_worker:
            worker = Worker(active.runtime_deps(), active.registry)
            worker_task = asyncio.create_task(worker.run(), name="embedded-worker")
        try:
            yield
        finally:
            if worker is not None and worker_task is not None:
                worker.stop()
                await worker_task
            if owned:
                await close_services(active)

    app = FastAPI(
        title="onboardflow",
        version=__version__,
        description="Durable batch onboarding of restaurants. "
        "Authenticate with `Authorization: Bearer <token>`.",
        lifespan=lifespan,
    )
    app.state.services = active
    install_error_handlers(app)
    for router in (
        health.router,
        organisation.router,
        restaurants.router,
        leads.router,
        jobs.router,
        registrations.router,
        batches.router,
        actions.router,
    ):
        app.include_router(router)
    app.include_router(events.router)
    web_routes.install(app)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.resolved_secret_key,
        session_cookie="onboardflow_session",
        max_age=settings.session_max_age_seconds,
        same_site="lax",
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
