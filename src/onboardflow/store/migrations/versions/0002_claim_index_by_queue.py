"""the runnable jobs of one queue in claim order (ix_jobs_claim_queue)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_RUNNABLE = "status IN ('pending', 'queued')"


def upgrade() -> None:
    op.create_index(
        "ix_jobs_claim_queue",
        "jobs",
        ["queue", sa.text("priority DESC"), "run_at", "id"],
        unique=False,
        sqlite_where=sa.text(_RUNNABLE),
        postgresql_where=sa.text(_RUNNABLE),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_claim_queue", table_name="jobs")
