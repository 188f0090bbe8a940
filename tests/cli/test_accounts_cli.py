"""The account commands print what an operator needs as the last word, and fail without tracebacks."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from onboardflow.cli.main import app

runner = CliRunner()


@pytest.fixture
def cli_env(database_url: str, tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONBOARDFLOW_DATABASE_URL", database_url)
    monkeypatch.setenv("ONBOARDFLOW_DATA_DIR", str(tmp_path))


@pytest.mark.usefixtures("cli_env")
def test_org_user_and_token_commands_print_the_secret_as_the_last_word() -> None:
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    assert runner.invoke(app, ["org", "create", "Acme"]).exit_code == 0
    user = runner.invoke(
        app, ["user", "create", "--org", "Acme", "--email", "ops@acme.test", "--role", "admin"]
    )
    assert user.exit_code == 0, user.output
    assert len(user.output.split()[-1]) >= 12
    token = runner.invoke(app, ["token", "create", "--org", "Acme"])
    assert token.exit_code == 0
    assert token.output.split()[-1].startswith("obf_")


@pytest.mark.usefixtures("cli_env")
def test_errors_are_a_message_and_exit_code_1_not_a_traceback() -> None:
    result = runner.invoke(app, ["token", "create", "--org", "Nobody"])
    assert result.exit_code == 1
    assert "no organisation named 'Nobody'" in result.output
    assert "Traceback" not in result.output
    runner.invoke(app, ["org", "create", "Twice"])
    again = runner.invoke(app, ["org", "create", "Twice"])
    assert again.exit_code == 1
    assert "already exists" in again.output
