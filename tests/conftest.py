"""Fixtures shared by every layer: a migrated database per test, on SQLite and on PostgreSQL.

SQLite tests copy a file migrated once per session. PostgreSQL tests (only when
ONBOARDFLOW_TEST_DATABASE_URL is set) get a fresh database cloned from a migrated template.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import settings

from onboardflow.api.app import create_app
from onboardflow.config import Settings
from onboardflow.domain.records import Principal
from onboardflow.domain.statuses import UserRole
from onboardflow.operations import accounts
from onboardflow.operations.services import Services, build_services, close_services
from onboardflow.store import migrate
from onboardflow.store.engine import libpq_url

PG_URL = os.environ.get("ONBOARDFLOW_TEST_DATABASE_URL")

# No per-example deadline: on a shared machine a slow example is load, not a bug.
settings.register_profile("onboardflow", deadline=None)
settings.load_profile("onboardflow")

DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=pytest.mark.skipif(not PG_URL, reason="ONBOARDFLOW_TEST_DATABASE_URL is not set"),
    ),
]


def _pg_admin(sql: str) -> None:
    assert PG_URL
    with psycopg.connect(libpq_url(PG_URL), autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def _pg_url_for(dbname: str) -> str:
    assert PG_URL
    base, _, _ = libpq_url(PG_URL).rpartition("/")
    return f"{base}/{dbname}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    name = f"onboardflow_tpl_{os.getpid()}"
    _pg_admin(f"DROP DATABASE IF EXISTS {name}")
    _pg_admin(f"CREATE DATABASE {name}")
    migrate.upgrade(_pg_url_for(name))
    yield name
    _pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def fresh_database_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database of ``kind`` that lives as long as the test."""
    if kind == "sqlite":
        path = tmp_path / "onboardflow.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    template = request.getfixturevalue("pg_template")
    name = f"onboardflow_t_{uuid.uuid4().hex[:12]}"
    _pg_admin(f"CREATE DATABASE {name} TEMPLATE {template}")
    request.addfinalizer(lambda: _pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    return _pg_url_for(name)


@pytest.fixture(params=DATABASES)
def db_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def database_url(db_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return fresh_database_url(db_kind, request, tmp_path)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        data_dir=tmp_path,
        secret_key="test-secret-key",
        worker_concurrency=4,
    )


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    built = build_services(settings)
    yield built
    await close_services(built)


@pytest.fixture
async def client(settings: Settings, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, services=services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


@dataclass(frozen=True)
class Tenant:
    """An organisation with an admin user and a token, as tests use it."""

    name: str
    token: str
    email: str
    password: str
    principal: Principal

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_tenant(services: Services, name: str, role: UserRole = UserRole.ADMIN) -> Tenant:
    """Create an organisation, an admin user and a token."""
    org = await accounts.create_organisation(services, name)
    user, password = await accounts.create_user(
        services, organisation=name, email=f"admin@{name.lower().replace(' ', '-')}.test", role=role
    )
    token = await accounts.create_token(services, organisation=name, role=role, user_id=user.id)
    principal = Principal(organisation_id=org.id, role=role, user_id=user.id)
    return Tenant(name=name, token=token, email=user.email, password=password, principal=principal)


@pytest.fixture
async def tenant(services: Services) -> Tenant:
    return await make_tenant(services, "Org A")


@pytest.fixture
async def other_tenant(services: Services) -> Tenant:
    return await make_tenant(services, "Org B")


def pytest_report_header(config: pytest.Config) -> str:
    """Say which databases the database tests run on."""
    if PG_URL:
        return f"onboardflow database tests: sqlite and postgresql ({libpq_url(PG_URL).rsplit('@', 1)[-1]})"
    return "onboardflow database tests: sqlite only (set ONBOARDFLOW_TEST_DATABASE_URL for postgresql)"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Count the database tests that passed on each database."""
    passed = [report.nodeid for report in terminalreporter.stats.get("passed", [])]
    counts = {db: sum(1 for nodeid in passed if f"[{db}" in nodeid) for db in ("sqlite", "postgresql")}
    terminalreporter.write_line(
        f"onboardflow database tests passed: sqlite {counts['sqlite']}, postgresql {counts['postgresql']}"
    )
