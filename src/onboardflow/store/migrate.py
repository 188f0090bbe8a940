"""Schema migrations: upgrade and downgrade with the Alembic scripts shipped in the package."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from onboardflow.store.engine import sync_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic configuration pointing at the packaged migrations and ``database_url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", sync_url(database_url).replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate the database at ``database_url`` up to ``revision``."""
    _with_connection(database_url, lambda cfg: command.upgrade(cfg, revision))


def downgrade(database_url: str, revision: str = "base") -> None:
    """Migrate the database at ``database_url`` down to ``revision``."""
    _with_connection(database_url, lambda cfg: command.downgrade(cfg, revision))


def current_revision(database_url: str) -> str | None:
    """The revision the database is at, or None for an empty database."""
    engine = sa.create_engine(sync_url(database_url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def _with_connection(database_url: str, action: object) -> None:
    cfg = alembic_config(database_url)
    engine = sa.create_engine(sync_url(database_url), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            action(cfg)  # type: ignore[operator]
    finally:
        engine.dispose()
