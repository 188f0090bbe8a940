"""The packaged migrations build exactly the table metadata, on both databases, and undo cleanly."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from onboardflow.store import migrate
from onboardflow.store.engine import sync_url
from onboardflow.store.tables import metadata
from tests.conftest import fresh_database_url

CLAIM_INDEXES = ("ix_jobs_claim", "ix_jobs_claim_queue")
"""Expression indexes (``priority DESC``): autogenerate cannot compare them, so they are checked apart."""
VIEWS = {"jobs_queue_status", "jobs_failed_summary", "jobs_metrics"}


@pytest.fixture
def empty_url(db_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url = fresh_database_url(db_kind, request, tmp_path)
    migrate.downgrade(url, "base")
    return url


def _diff(url: str) -> list[object]:
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as conn, warnings.catch_warnings():
            # Expression indexes (priority DESC) cannot be reflected on SQLite; they are checked below.
            warnings.simplefilter("ignore", UserWarning)
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
            return [
                d for d in diff if not (isinstance(d, tuple) and getattr(d[1], "name", None) in CLAIM_INDEXES)
            ]
    finally:
        engine.dispose()


def _names(url: str) -> tuple[set[str], set[str], set[str]]:
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            tables = set(inspector.get_table_names())
            views = set(inspector.get_view_names())
            indexes = {ix["name"] for t in tables for ix in inspector.get_indexes(t) if ix["name"]}
            return tables, views, indexes
    finally:
        engine.dispose()


def test_upgrade_head_builds_exactly_the_table_metadata(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    assert _diff(empty_url) == []
    tables, views, indexes = _names(empty_url)
    assert set(metadata.tables) <= tables
    assert views >= VIEWS
    expected_indexes = {ix.name for t in metadata.tables.values() for ix in t.indexes}
    assert expected_indexes <= indexes
    for name in CLAIM_INDEXES:
        assert "priority DESC" in _index_sql(empty_url, name)


def _index_sql(url: str, name: str) -> str:
    engine = sa.create_engine(sync_url(url))
    query = (
        "SELECT sql FROM sqlite_master WHERE name = :n"
        if engine.dialect.name == "sqlite"
        else "SELECT indexdef FROM pg_indexes WHERE indexname = :n"
    )
    try:
        with engine.connect() as conn:
            return str(conn.execute(sa.text(query), {"n": name}).scalar_one())
    finally:
        engine.dispose()


def test_downgrade_base_removes_every_table_and_view(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    migrate.downgrade(empty_url, "base")
    tables, views, _ = _names(empty_url)
    assert tables <= {"alembic_version"}
    assert not views & VIEWS
    assert migrate.current_revision(empty_url) is None
    migrate.upgrade(empty_url)
    assert _diff(empty_url) == []


def test_health_views_answer_on_an_empty_queue(database_url: str) -> None:
    engine = sa.create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            for view in VIEWS:
                assert conn.execute(sa.text(f"SELECT * FROM {view}")).fetchall() == []
    finally:
        engine.dispose()
