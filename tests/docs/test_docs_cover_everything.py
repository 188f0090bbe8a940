"""The docs cannot drift: every setting and every CLI command is documented."""

from __future__ import annotations

from pathlib import Path

import typer.main

from onboardflow.cli.main import app
from onboardflow.config import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_setting_is_documented_with_a_description() -> None:
    text = (DOCS / "configuration.md").read_text()
    for name, field in Settings.model_fields.items():
        assert f"`ONBOARDFLOW_{name.upper()}`" in text, (
            f"ONBOARDFLOW_{name.upper()} is not in docs/configuration.md"
        )
        assert field.description, f"setting {name} has no description"


def _command_paths(group: typer.main.click.Group, prefix: str = "") -> list[str]:  # type: ignore[name-defined]
    paths = []
    for name, command in group.commands.items():
        full = f"{prefix} {name}".strip()
        if hasattr(command, "commands"):
            paths.extend(_command_paths(command, full))
        else:
            paths.append(full)
    return paths


def test_every_cli_command_is_documented() -> None:
    text = (DOCS / "cli.md").read_text()
    commands = _command_paths(typer.main.get_command(app))  # type: ignore[arg-type]
    assert "serve" in commands
    for command in commands:
        assert f"`onboardflow {command}" in text, f"`onboardflow {command}` is not in docs/cli.md"


def test_every_job_type_and_adapter_kind_is_documented() -> None:
    from onboardflow.runtime.handlers import default_registry

    text = (DOCS / "jobs.md").read_text()
    for spec in default_registry().job_types():
        assert f"`{spec.job_type}`" in text, (
            f"job type {spec.job_type} is not in docs/jobs.md (run ./scripts/docs-jobs)"
        )
    for kind in ("simulated", "http", "command"):
        assert f"| `{kind}` |" in text, f"adapter kind {kind} is not in docs/jobs.md"
