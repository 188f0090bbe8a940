"""`onboardflow demo` carries a sample batch to completion and prints the summary."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from onboardflow.cli.main import app

runner = CliRunner()


def test_demo_onboards_every_sample_restaurant_and_prints_the_summary(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONBOARDFLOW_DATABASE_URL", database_url)
    monkeypatch.setenv("ONBOARDFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "160")
    result = runner.invoke(app, ["demo", "--restaurants", "4"])
    assert result.exit_code == 0, result.output
    assert "restaurants by status: {'completed': 4}" in result.output
    assert "operator requests" in result.output
