"""Schemathesis over /openapi.json against a real server: no input produces a 500."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """`onboardflow serve` on a fresh SQLite file; yields its URL and the demo API token."""
    data = tmp_path_factory.mktemp("fuzz")
    port = _free_port()
    env = {
        **os.environ,
        "ONBOARDFLOW_DATABASE_URL": f"sqlite:///{data / 'fuzz.db'}",
        "ONBOARDFLOW_DATA_DIR": str(data),
        "ONBOARDFLOW_LOG_LEVEL": "WARNING",
    }
    log = (data / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "onboardflow", "serve", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError(Path(data / "serve.log").read_text())
        token = next(
            line.split()[-1]
            for line in Path(data / "serve.log").read_text().splitlines()
            if "API token" in line
        )
        yield url, token
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_no_input_produces_a_server_error(live_server: tuple[str, str]) -> None:
    url, token = live_server
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    headers = {"Authorization": f"Bearer {token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call(case: schemathesis.Case) -> None:
            response = case.call(base_url=url, headers=headers)
            case.validate_response(response, checks=[not_a_server_error])
            assert response.status_code < 500, (case.method, case.path, response.text)

        call()
