"""A real `onboardflow serve` for the web tests: a fresh SQLite file, the demo login, its API token."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest


@dataclass(frozen=True)
class LiveServer:
    url: str
    email: str
    password: str
    token: str
    log: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _demo_value(log: str, label: str) -> str:
    return next(line.split()[-1] for line in log.splitlines() if line.strip().startswith(label))


def start_server(
    data: Path, *, faults: dict[str, Any] | None = None
) -> tuple[subprocess.Popen[bytes], LiveServer]:
    """Start `onboardflow serve` on a free port with a fresh database in ``data``."""
    port = _free_port()
    env = {
        **os.environ,
        "ONBOARDFLOW_DATABASE_URL": f"sqlite:///{data / 'web.db'}",
        "ONBOARDFLOW_DATA_DIR": str(data),
        "ONBOARDFLOW_LOG_LEVEL": "WARNING",
        "ONBOARDFLOW_SIMULATION_FAULTS": json.dumps(faults or {"latency_ms": 150}),
        "COLUMNS": "200",
    }
    env.pop("ONBOARDFLOW_SECRET_KEY", None)
    log_path = data / "serve.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "onboardflow", "serve", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        proc.terminate()
        raise RuntimeError(log_path.read_text())
    text = log_path.read_text()
    server = LiveServer(
        url=url,
        email=_demo_value(text, "email:"),
        password=_demo_value(text, "password:"),
        token=_demo_value(text, "API token:"),
        log=log_path,
    )
    return proc, server


@contextmanager
def serving(data: Path, *, faults: dict[str, Any] | None = None) -> Iterator[LiveServer]:
    """``start_server``, stopped at the end (killed if it does not stop within 15 s)."""
    proc, server = start_server(data, faults=faults)
    try:
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`onboardflow serve` on a fresh SQLite file with simulated services (150 ms per call)."""
    with serving(tmp_path_factory.mktemp("web")) as server:
        yield server


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(os.environ["SCREENSHOT_DIR"]) if os.environ.get("SCREENSHOT_DIR") else None
"""Where the browser tests save their screenshots: the user guide's ``docs/img`` when run with
``SCREENSHOT_DIR=docs/img`` to refresh it, nowhere otherwise (a test run leaves the tree as it was)."""


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """The system Chromium, headless, driven by Playwright (never a downloaded browser)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("the system Chromium (/usr/bin/chromium) is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def shoot(page: Any, name: str, *, full_page: bool = True) -> None:
    """Take a screenshot of ``page``, saved as ``<name>.png`` in ``SCREENSHOTS`` when that is set
    (the user guide's images); taken either way, so a page that cannot be drawn still fails."""
    picture = page.screenshot(full_page=full_page)
    if SCREENSHOTS is not None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / f"{name}.png").write_bytes(picture)


def sign_in(page: Any, server: LiveServer, path: str = "/") -> None:
    """Open ``path`` and sign in on the page it redirects to (typing only, then one Enter)."""
    page.goto(path)
    page.get_by_label("Email").fill(server.email)
    page.get_by_label("Password").fill(server.password)
    page.get_by_label("Password").press("Enter")
    page.wait_for_url(f"**{path}")
