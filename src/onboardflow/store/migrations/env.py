"""Alembic environment: migrates the database given by the caller's connection or URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from onboardflow.store.tables import metadata

config = context.config


def run_migrations() -> None:
    """Run the migrations on the connection handed over in ``config.attributes`` or on the URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # type: ignore[attr-defined]
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
