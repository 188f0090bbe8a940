"""Settings, read from the environment and `.env` with the prefix ``ONBOARDFLOW_``.

Every setting is documented by its ``description``; ``docs/configuration.md`` lists them all
and a test keeps that page in step with this class.
"""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_KEY_FILE = "secret_key"


class Settings(BaseSettings):
    """onboardflow's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="ONBOARDFLOW_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = Field(
        default="sqlite:///./onboardflow.db",
        description="SQLAlchemy URL of the database: `sqlite:///path.db` (embedded) or "
        "`postgresql://user@host:5432/db` (production).",
    )
    data_dir: Path = Field(
        default=Path("."),
        description="Directory for files onboardflow creates itself (the generated secret key).",
    )
    secret_key: str | None = Field(
        default=None,
        description="Key that signs session cookies and encrypts stored secrets. When unset, a key is "
        "generated into `<data_dir>/secret_key` on first run and reused after.",
    )
    adapters: Literal["simulated", "http"] = Field(
        default="simulated",
        description="Which implementations of the external services to use: `simulated` (in-process, "
        "the default) or `http` (real services at `service_base_url`).",
    )
    service_base_url: str = Field(
        default="http://127.0.0.1:8100",
        description="Base URL of the external services when `adapters` is `http` "
        "(`onboardflow sandbox` serves the simulated ones there).",
    )
    service_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Time-out of one call to an external service."
    )
    pumpd_command: str | None = Field(
        default=None,
        description="Command line of a script that performs the Pumpd operations (JSON on stdin and "
        "stdout). When set, Pumpd calls go through it instead of `adapters`.",
    )
    simulation_seed: int = Field(default=0, description="Seed of the simulated services' data and faults.")
    simulation_faults: dict[str, Any] = Field(
        default_factory=dict,
        description="Latency and failure injection of the simulated services, as JSON, e.g. "
        '`{"latency_ms": 100, "rules": [{"service": "pumpd", "operation": "menu_import", '
        '"kind": "server_error", "times": 2}]}`.',
    )
    worker_concurrency: int = Field(
        default=10, ge=1, le=1000, description="Jobs one worker process runs at once."
    )
    worker_processes: int = Field(
        default=1, ge=1, le=64, description="Worker processes `onboardflow worker` starts."
    )
    handler_modules: list[str] = Field(
        default_factory=list,
        description="Extra Python modules, each with a `registry` "
        "(an `onboardflow.runtime.registry.Registry`), "
        'whose job types workers also run, as JSON, e.g. `["mycompany.jobs"]`.',
    )
    embedded_worker: bool = Field(
        default=True, description="Whether `onboardflow serve` runs a worker inside the API process."
    )
    lease_seconds: float = Field(
        default=20.0,
        gt=0,
        description="How long a claimed job stays leased to its worker without a heartbeat; a job of a "
        "worker silent for longer goes back to the queue (checked every 2 s, so within 30 s by default).",
    )
    heartbeat_seconds: float = Field(
        default=5.0, gt=0, description="How often a worker renews its heartbeat and its jobs' leases."
    )
    poll_seconds: float = Field(
        default=1.0, gt=0, description="How often an idle worker looks for due jobs without a wake-up."
    )
    listen_notify: bool = Field(
        default=True,
        description="On PostgreSQL, wake workers with LISTEN/NOTIFY. Turn off behind PgBouncer in "
        "transaction mode (workers then only poll).",
    )
    shutdown_grace_seconds: float = Field(
        default=10.0, ge=0, description="How long a stopping worker lets running jobs finish."
    )
    job_retention_days: float = Field(
        default=30.0, gt=0, description="Finished jobs older than this are pruned by maintenance."
    )
    pumpd_concurrency: int = Field(
        default=3,
        ge=1,
        description="Pumpd calls running at once across the whole cluster: the limit of queue "
        "`pumpd` "
        "when it has none yet (change it later with `onboardflow queue limit pumpd N`).",
    )
    session_max_age_seconds: int = Field(
        default=14 * 24 * 3600, gt=0, description="Lifetime of a web sign-in."
    )
    max_body_bytes: int = Field(
        default=5 * 1024 * 1024, gt=0, description="Largest request body accepted; larger ones get 413."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level of the service."
    )

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql", "postgres")):
            raise ValueError("must be a sqlite:// or postgresql:// URL")
        return value

    @cached_property
    def resolved_secret_key(self) -> str:
        """The secret key: the configured one, or the one generated into the data directory."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / SECRET_KEY_FILE
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key + "\n")
        path.chmod(0o600)
        return key


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with explicit overrides (used by the CLI and tests)."""
    return Settings(**overrides)
