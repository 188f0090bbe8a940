"""a job claimed to run in the slot of another once that one is done (jobs.takes_slot_of)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("takes_slot_of", sa.Uuid(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35 and later too): a batch copy of the table would break the views.
    op.execute("ALTER TABLE jobs DROP COLUMN takes_slot_of")
