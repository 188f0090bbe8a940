"""Secrets in stored configuration: encrypted at rest, `***` in responses and in log lines."""

from __future__ import annotations

import logging

import httpx
import pytest
import sqlalchemy as sa

from onboardflow.logs import RedactingFilter
from onboardflow.store.engine import sync_url
from tests.conftest import Tenant


async def test_secret_settings_are_encrypted_at_rest_and_never_returned(
    client: httpx.AsyncClient, tenant: Tenant, database_url: str
) -> None:
    settings = {
        "yolo_defaults": {"payment": {"provider": "stripe", "stripe_api_key": "sk_live_123"}},
        "theme": "dark",
    }
    r = await client.patch("/api/organisation/settings", json={"settings": settings}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert "sk_live_123" not in r.text
    assert r.json()["settings"]["yolo_defaults"]["payment"]["stripe_api_key"] == "***"
    assert r.json()["settings"]["theme"] == "dark"
    engine = sa.create_engine(sync_url(database_url))
    with engine.connect() as conn:
        raw = conn.execute(sa.text("SELECT settings FROM organisations WHERE name = 'Org A'")).scalar_one()
    engine.dispose()
    assert "sk_live_123" not in str(raw)
    assert "enc:v1:" in str(raw)
    again = await client.get("/api/organisation", headers=tenant.headers)
    assert "sk_live_123" not in again.text


async def test_sending_back_the_placeholder_keeps_the_stored_secret(
    client: httpx.AsyncClient, tenant: Tenant, services: object
) -> None:
    from onboardflow.operations.organisation import read_settings

    await client.patch(
        "/api/organisation/settings", json={"settings": {"api_token": "t0ken"}}, headers=tenant.headers
    )
    await client.patch(
        "/api/organisation/settings", json={"settings": {"api_token": "***"}}, headers=tenant.headers
    )
    opened = await read_settings(services, tenant.principal)  # type: ignore[arg-type]
    assert opened["api_token"] == "t0ken"


def test_log_lines_have_secrets_redacted(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("onboardflow.test")
    caplog.handler.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="onboardflow.test"):
        logger.info("config %s", {"account": {"email": "a@b.co", "password": "hunter22"}})
        logger.info("calling with password=hunter22 and Authorization: Bearer obf_abcdef")
        logger.info('body {"api_key": "sk_123", "name": "x"}')
    text = caplog.text
    assert "hunter22" not in text
    assert "obf_abcdef" not in text
    assert "sk_123" not in text
    assert "a@b.co" in text
