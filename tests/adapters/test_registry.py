"""Building adapters from configuration, and the import boundary of the adapters package."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import pytest

from onboardflow.adapters.cdn.http import HttpCdn
from onboardflow.adapters.companies.simulated import SimulatedCompanies
from onboardflow.adapters.pumpd.command import CommandPumpd
from onboardflow.adapters.pumpd.http import HttpPumpd
from onboardflow.adapters.pumpd.simulated import SimulatedPumpd
from onboardflow.adapters.registry import build_adapters
from onboardflow.adapters.sandbox import create_sandbox_app
from onboardflow.errors import InvalidInput, RetryableError

ADAPTERS_DIR = Path(__file__).resolve().parents[2] / "src" / "onboardflow" / "adapters"


async def test_simulated_adapters_share_one_simulation() -> None:
    adapters = build_adapters("simulated", seed=4, faults={"latency_ms": 0})
    assert isinstance(adapters.pumpd, SimulatedPumpd)
    assert isinstance(adapters.companies, SimulatedCompanies)
    assert adapters.simulation is not None
    assert adapters.simulation.seed == 4
    await adapters.cdn.upload("https://x.example/a.jpg", kind="menu_item", idempotency_key="k")
    await adapters.companies.search_by_name("Joe's Pizza")
    assert [(c.service, c.operation) for c in adapters.simulation.calls] == [
        ("cdn", "upload"),
        ("companies", "search_by_name"),
    ]
    await adapters.aclose()


async def test_a_fault_plan_from_settings_reaches_the_simulated_services() -> None:
    adapters = build_adapters(
        "simulated", faults={"rules": [{"service": "cdn", "kind": "server_error", "times": 1, "status": 502}]}
    )
    with pytest.raises(RetryableError, match="HTTP 502"):
        await adapters.cdn.upload("https://x.example/a.jpg", kind="menu_item", idempotency_key="k")


async def test_http_adapters_reach_every_service_through_one_transport() -> None:
    transport = httpx.ASGITransport(app=create_sandbox_app())
    adapters = build_adapters("http", base_url="http://sandbox", transport=transport)
    assert isinstance(adapters.pumpd, HttpPumpd)
    assert isinstance(adapters.cdn, HttpCdn)
    assert adapters.simulation is None
    await adapters.pumpd.run("code_generation", {"restaurant_name": "Joe's Pizza"}, idempotency_key="k")
    await adapters.cdn.upload("https://x.example/a.jpg", kind="menu_item", idempotency_key="k")
    await adapters.extraction.extract_branding("https://x.example", restaurant_name="X", idempotency_key="k")
    assert await adapters.companies.search_by_address("12 Queen Street, Auckland")
    await adapters.aclose()


@pytest.mark.parametrize(
    "command", ["node scripts/pumpd.js", ["node", "scripts/pumpd.js"], {"argv": "node x.js"}]
)
@pytest.mark.parametrize("kind", ["simulated", "http"])
async def test_a_pumpd_command_replaces_pumpd_whatever_the_kind(command: object, kind: str) -> None:
    adapters = build_adapters(kind, base_url="http://127.0.0.1:9", pumpd_command=command, timeout=42)  # type: ignore[arg-type]
    assert isinstance(adapters.pumpd, CommandPumpd)
    assert adapters.pumpd.spec.argv[0] == "node"
    assert adapters.pumpd.spec.timeout == 42
    await adapters.aclose()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "carrier-pigeon"}, "adapters"),
        ({"kind": "http"}, "base_url"),
        ({"kind": "http", "base_url": {"pumpd": "http://a", "cdn": "http://b"}}, "base_url.extraction"),
        (
            {"kind": "simulated", "faults": {"rules": [{"kind": "meteor", "times": 1}]}},
            "faults.rules[0].kind",
        ),
        ({"kind": "simulated", "timeout": 0}, "timeout"),
        ({"kind": "simulated", "pumpd_command": {"colour": "red"}}, "pumpd_command.colour"),
    ],
)
def test_bad_configuration_names_the_setting(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        build_adapters(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_building_http_adapters_connects_to_nothing() -> None:
    adapters = build_adapters("http", base_url="http://127.0.0.1:9")
    assert adapters.kind == "http"


def test_adapters_import_nothing_above_them_and_no_database_driver() -> None:
    forbidden = ("sqlalchemy", "alembic", "psycopg", "aiosqlite", "onboardflow.store", "onboardflow.runtime",
                 "onboardflow.operations", "onboardflow.api", "onboardflow.web", "onboardflow.cli",
                 "onboardflow.config")  # fmt: skip
    offenders = []
    for path in ADAPTERS_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [
                f"{path.name}: {n}" for n in names if n.split(".")[0] in forbidden or n.startswith(forbidden)
            ]
    assert offenders == []
