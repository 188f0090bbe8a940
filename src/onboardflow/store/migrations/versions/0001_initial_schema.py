"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 16:40:08.421374
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import onboardflow.store.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "maintenance_leader",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("worker_id", sa.String(length=100), nullable=False),
        sa.Column("expires_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_maintenance_leader")),
    )
    op.create_table(
        "organisations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "settings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("name", name=op.f("uq_organisations_name")),
    )
    op.create_table(
        "queues",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("concurrency_limit", sa.Integer(), nullable=True),
        sa.Column("updated_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "concurrency_limit IS NULL OR concurrency_limit > 0", name=op.f("ck_queues_concurrency_limit")
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_queues")),
    )
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("hostname", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column(
            "queues",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("started_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stopping", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    op.create_table(
        "events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("organisation_id", sa.Uuid(), nullable=True),
        sa.Column("entity_type", sa.String(length=30), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("batch_job_id", sa.Uuid(), nullable=True),
        sa.Column("registration_job_id", sa.Uuid(), nullable=True),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_events_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_entity", ["entity_id", "id"], unique=False)
        batch_op.create_index("ix_events_org_id", ["organisation_id", "id"], unique=False)

    op.create_table(
        "restaurants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=True),
        sa.Column("city", sa.String(length=200), nullable=True),
        sa.Column("phone", sa.String(length=50), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("website", sa.String(length=1000), nullable=True),
        sa.Column("cuisine", sa.String(length=200), nullable=True),
        sa.Column("marketplace_url", sa.String(length=1000), nullable=True),
        sa.Column("contact_name", sa.String(length=300), nullable=True),
        sa.Column("contact_email", sa.String(length=320), nullable=True),
        sa.Column("contact_phone", sa.String(length=50), nullable=True),
        sa.Column(
            "menu",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "branding",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "company",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("pumpd_user_id", sa.String(length=100), nullable=True),
        sa.Column("pumpd_restaurant_id", sa.String(length=100), nullable=True),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_restaurants_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_restaurants")),
    )
    with op.batch_alter_table("restaurants", schema=None) as batch_op:
        batch_op.create_index("ix_restaurants_org_created", ["organisation_id", "created_at"], unique=False)
        batch_op.create_index("ix_restaurants_org_name", ["organisation_id", "name"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("last_login_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('member', 'admin', 'super_admin')", name=op.f("ck_users_role")),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_users_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("created_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('member', 'admin', 'super_admin')", name=op.f("ck_api_tokens_role")),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_api_tokens_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=True),
        sa.Column("job_type", sa.String(length=60), nullable=False),
        sa.Column("job_category", sa.String(length=40), nullable=True),
        sa.Column("queue", sa.String(length=60), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column(
            "input_payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_kind", sa.String(length=20), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_retries", sa.Integer(), nullable=False),
        sa.Column("timeout_seconds", sa.Float(), nullable=True),
        sa.Column("execution_time_ms", sa.Integer(), nullable=True),
        sa.Column("run_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("unique_key", sa.String(length=300), nullable=True),
        sa.Column("restaurant_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("parent_job_id", sa.Uuid(), nullable=True),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'queued', 'in_progress', 'paused', 'completed', 'failed', 'cancelled')",
            name=op.f("ck_jobs_status"),
        ),
        sa.CheckConstraint("attempts >= 0 AND max_retries >= 0", name=op.f("ck_jobs_attempts")),
        sa.CheckConstraint("priority >= -10 AND priority <= 10", name=op.f("ck_jobs_priority")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_jobs_created_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_jobs_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_job_id"], ["jobs.id"], name=op.f("fk_jobs_parent_job_id_jobs"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["restaurant_id"],
            ["restaurants.id"],
            name=op.f("fk_jobs_restaurant_id_restaurants"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_jobs_claim",
            [sa.text("priority DESC"), "run_at", "id"],
            unique=False,
            sqlite_where=sa.text("status IN ('pending', 'queued')"),
            postgresql_where=sa.text("status IN ('pending', 'queued')"),
        )
        batch_op.create_index(
            "ix_jobs_finished",
            ["completed_at"],
            unique=False,
            sqlite_where=sa.text("status IN ('completed', 'failed', 'cancelled')"),
            postgresql_where=sa.text("status IN ('completed', 'failed', 'cancelled')"),
        )
        batch_op.create_index(
            "ix_jobs_lease",
            ["lease_owner"],
            unique=False,
            sqlite_where=sa.text("status = 'in_progress'"),
            postgresql_where=sa.text("status = 'in_progress'"),
        )
        batch_op.create_index(
            "ix_jobs_running_queue",
            ["queue"],
            unique=False,
            sqlite_where=sa.text("status = 'in_progress'"),
            postgresql_where=sa.text("status = 'in_progress'"),
        )
        batch_op.create_index("ix_jobs_org_created", ["organisation_id", "created_at"], unique=False)
        batch_op.create_index("ix_jobs_parent", ["parent_job_id"], unique=False)
        batch_op.create_index(
            "uq_jobs_unique_key_active",
            ["unique_key"],
            unique=True,
            sqlite_where=sa.text("unique_key IS NOT NULL AND status IN ('pending', 'queued', 'in_progress')"),
            postgresql_where=sa.text(
                "unique_key IS NOT NULL AND status IN ('pending', 'queued', 'in_progress')"
            ),
        )

    op.create_table(
        "leads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=True),
        sa.Column("city", sa.String(length=200), nullable=True),
        sa.Column("phone", sa.String(length=50), nullable=True),
        sa.Column("website", sa.String(length=1000), nullable=True),
        sa.Column("cuisine", sa.String(length=200), nullable=True),
        sa.Column("marketplace_url", sa.String(length=1000), nullable=True),
        sa.Column("restaurant_id", sa.Uuid(), nullable=True),
        sa.Column("converted_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_leads_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["restaurant_id"],
            ["restaurants.id"],
            name=op.f("fk_leads_restaurant_id_restaurants"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leads")),
    )
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_index("ix_leads_org_created", ["organisation_id", "created_at"], unique=False)

    op.create_table(
        "registration_batch_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column(
            "settings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("total_restaurants", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'in_progress', 'completed', 'failed', 'cancelled', 'paused')",
            name=op.f("ck_registration_batch_jobs_status"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_registration_batch_jobs_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_registration_batch_jobs_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registration_batch_jobs")),
    )
    with op.batch_alter_table("registration_batch_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_registration_batch_jobs_org_created", ["organisation_id", "created_at"], unique=False
        )

    op.create_table(
        "registration_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("batch_job_id", sa.Uuid(), nullable=True),
        sa.Column("restaurant_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("current_step", sa.String(length=40), nullable=True),
        sa.Column("current_phase", sa.String(length=10), nullable=True),
        sa.Column(
            "execution_config",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "execution_results",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("pumpd_user_id", sa.String(length=100), nullable=True),
        sa.Column("pumpd_restaurant_id", sa.String(length=100), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "current_phase IS NULL OR current_phase IN ('phase1', 'phase2', 'phase3', 'phase4')",
            name=op.f("ck_registration_jobs_current_phase"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'in_progress', 'action_required', 'completed', 'failed', 'cancelled')",
            name=op.f("ck_registration_jobs_status"),
        ),
        sa.ForeignKeyConstraint(
            ["batch_job_id"],
            ["registration_batch_jobs.id"],
            name=op.f("fk_registration_jobs_batch_job_id_registration_batch_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_registration_jobs_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_registration_jobs_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["restaurant_id"],
            ["restaurants.id"],
            name=op.f("fk_registration_jobs_restaurant_id_restaurants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registration_jobs")),
    )
    with op.batch_alter_table("registration_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_registration_jobs_batch_status", ["batch_job_id", "status"], unique=False)
        batch_op.create_index(
            "ix_registration_jobs_org_created", ["organisation_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_registration_jobs_restaurant_created", ["restaurant_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "uq_registration_jobs_one_active_single_run",
            ["restaurant_id"],
            unique=True,
            sqlite_where=sa.text(
                "batch_job_id IS NULL AND status IN ('pending', 'in_progress', 'action_required')"
            ),
            postgresql_where=sa.text(
                "batch_job_id IS NULL AND status IN ('pending', 'in_progress', 'action_required')"
            ),
        )

    op.create_table(
        "company_candidates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("registration_job_id", sa.Uuid(), nullable=False),
        sa.Column("restaurant_id", sa.Uuid(), nullable=False),
        sa.Column("company_number", sa.String(length=50), nullable=False),
        sa.Column("nzbn", sa.String(length=20), nullable=True),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=50), nullable=True),
        sa.Column("registered_address", sa.String(length=500), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column(
            "match_reasons",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("matched_by", sa.String(length=20), nullable=False),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("removed_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_company_candidates_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["registration_job_id"],
            ["registration_jobs.id"],
            name=op.f("fk_company_candidates_registration_job_id_registration_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["restaurant_id"],
            ["restaurants.id"],
            name=op.f("fk_company_candidates_restaurant_id_restaurants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_company_candidates")),
        sa.UniqueConstraint(
            "registration_job_id", "company_number", name="uq_company_candidates_job_company"
        ),
    )
    with op.batch_alter_table("company_candidates", schema=None) as batch_op:
        batch_op.create_index(
            "ix_company_candidates_job_score", ["registration_job_id", "score"], unique=False
        )

    op.create_table(
        "registration_job_steps",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("registration_job_id", sa.Uuid(), nullable=False),
        sa.Column("parent_step_id", sa.Uuid(), nullable=True),
        sa.Column("step_key", sa.String(length=40), nullable=False),
        sa.Column("step_number", sa.Integer(), nullable=False),
        sa.Column("phase", sa.Integer(), nullable=True),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("step_type", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_retries", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "input",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "answer_schema",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "answer",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("answered_by", sa.Uuid(), nullable=True),
        sa.Column("answered_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("warning", sa.Text(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("skip_reason", sa.Text(), nullable=True),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("started_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("created_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'in_progress', 'action_required', 'retrying', 'completed', 'failed', 'skipped', 'cancelled')",
            name=op.f("ck_registration_job_steps_status"),
        ),
        sa.CheckConstraint(
            "step_type IN ('automatic', 'action_required')", name=op.f("ck_registration_job_steps_step_type")
        ),
        sa.CheckConstraint(
            "phase IS NULL OR (phase >= 1 AND phase <= 4)", name=op.f("ck_registration_job_steps_phase")
        ),
        sa.ForeignKeyConstraint(
            ["answered_by"],
            ["users.id"],
            name=op.f("fk_registration_job_steps_answered_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_registration_job_steps_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_step_id"],
            ["registration_job_steps.id"],
            name=op.f("fk_registration_job_steps_parent_step_id_registration_job_steps"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["registration_job_id"],
            ["registration_jobs.id"],
            name=op.f("fk_registration_job_steps_registration_job_id_registration_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registration_job_steps")),
        sa.UniqueConstraint("registration_job_id", "step_key", name="uq_registration_job_steps_job_key"),
    )
    with op.batch_alter_table("registration_job_steps", schema=None) as batch_op:
        batch_op.create_index("ix_registration_job_steps_parent", ["parent_step_id"], unique=False)
        batch_op.create_index(
            "ix_registration_job_steps_waiting",
            ["organisation_id", "step_key", "created_at"],
            unique=False,
            sqlite_where=sa.text("status = 'action_required'"),
            postgresql_where=sa.text("status = 'action_required'"),
        )

    op.create_table(
        "registration_logs",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("registration_job_id", sa.Uuid(), nullable=True),
        sa.Column("step_key", sa.String(length=40), nullable=True),
        sa.Column("restaurant_id", sa.Uuid(), nullable=True),
        sa.Column("service", sa.String(length=40), nullable=False),
        sa.Column("operation", sa.String(length=60), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=True),
        sa.Column(
            "request",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "response",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("created_at", onboardflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_registration_logs_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["registration_job_id"],
            ["registration_jobs.id"],
            name=op.f("fk_registration_logs_registration_job_id_registration_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["restaurant_id"],
            ["restaurants.id"],
            name=op.f("fk_registration_logs_restaurant_id_restaurants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registration_logs")),
    )
    with op.batch_alter_table("registration_logs", schema=None) as batch_op:
        batch_op.create_index("ix_registration_logs_job", ["registration_job_id", "id"], unique=False)

    create_health_views()
    tune_queue_table()


def downgrade() -> None:
    drop_health_views()
    with op.batch_alter_table("registration_logs", schema=None) as batch_op:
        batch_op.drop_index("ix_registration_logs_job")

    op.drop_table("registration_logs")
    with op.batch_alter_table("registration_job_steps", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_registration_job_steps_waiting",
            sqlite_where=sa.text("status = 'action_required'"),
            postgresql_where=sa.text("status = 'action_required'"),
        )
        batch_op.drop_index("ix_registration_job_steps_parent")

    op.drop_table("registration_job_steps")
    with op.batch_alter_table("company_candidates", schema=None) as batch_op:
        batch_op.drop_index("ix_company_candidates_job_score")

    op.drop_table("company_candidates")
    with op.batch_alter_table("registration_jobs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_registration_jobs_one_active_single_run",
            sqlite_where=sa.text(
                "batch_job_id IS NULL AND status IN ('pending', 'in_progress', 'action_required')"
            ),
            postgresql_where=sa.text(
                "batch_job_id IS NULL AND status IN ('pending', 'in_progress', 'action_required')"
            ),
        )
        batch_op.drop_index("ix_registration_jobs_restaurant_created")
        batch_op.drop_index("ix_registration_jobs_org_created")
        batch_op.drop_index("ix_registration_jobs_batch_status")

    op.drop_table("registration_jobs")
    with op.batch_alter_table("registration_batch_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_registration_batch_jobs_org_created")

    op.drop_table("registration_batch_jobs")
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index("ix_leads_org_created")

    op.drop_table("leads")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_jobs_unique_key_active",
            sqlite_where=sa.text("unique_key IS NOT NULL AND status IN ('pending', 'queued', 'in_progress')"),
            postgresql_where=sa.text(
                "unique_key IS NOT NULL AND status IN ('pending', 'queued', 'in_progress')"
            ),
        )
        batch_op.drop_index("ix_jobs_running_queue")
        batch_op.drop_index("ix_jobs_parent")
        batch_op.drop_index("ix_jobs_org_created")
        batch_op.drop_index(
            "ix_jobs_lease",
            sqlite_where=sa.text("status = 'in_progress'"),
            postgresql_where=sa.text("status = 'in_progress'"),
        )
        batch_op.drop_index("ix_jobs_claim")
        batch_op.drop_index(
            "ix_jobs_finished",
            sqlite_where=sa.text("status IN ('completed', 'failed', 'cancelled')"),
            postgresql_where=sa.text("status IN ('completed', 'failed', 'cancelled')"),
        )

    op.drop_table("jobs")
    op.drop_table("api_tokens")
    op.drop_table("users")
    with op.batch_alter_table("restaurants", schema=None) as batch_op:
        batch_op.drop_index("ix_restaurants_org_name")
        batch_op.drop_index("ix_restaurants_org_created")

    op.drop_table("restaurants")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_org_id")
        batch_op.drop_index("ix_events_entity")

    op.drop_table("events")
    op.drop_table("workers")
    op.drop_table("queues")
    op.drop_table("organisations")
    op.drop_table("maintenance_leader")


# The three health views of SPEC §6, one definition per dialect (interval arithmetic differs).
_VIEWS = {
    "postgresql": {
        "jobs_queue_status": """
            SELECT job_type, status, COUNT(*) AS count, MAX(created_at) AS latest_job,
                   AVG(EXTRACT(EPOCH FROM (COALESCE(completed_at, CURRENT_TIMESTAMP) - started_at)))
                       AS avg_duration_seconds
            FROM jobs
            WHERE created_at > CURRENT_TIMESTAMP - INTERVAL '24 hours'
            GROUP BY job_type, status""",
        "jobs_failed_summary": """
            SELECT id, job_type, queue, organisation_id, restaurant_id, error_message, error_kind,
                   attempts, max_retries, created_at, started_at, completed_at
            FROM jobs
            WHERE status = 'failed' AND attempts <= max_retries""",
        "jobs_metrics": """
            SELECT job_type, COUNT(*) AS total_jobs,
                   SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS completed_count,
                   SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed_count,
                   SUM(CASE WHEN status IN ('pending', 'queued', 'in_progress') THEN 1 ELSE 0 END)
                       AS in_progress_count,
                   ROUND(100.0 * SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) / COUNT(*), 2)
                       AS success_rate_percent,
                   ROUND(CAST(AVG(EXTRACT(EPOCH FROM (completed_at - started_at))) AS NUMERIC), 3)
                       AS avg_duration_seconds
            FROM jobs
            WHERE created_at > CURRENT_TIMESTAMP - INTERVAL '7 days'
            GROUP BY job_type""",
    },
    "sqlite": {
        "jobs_queue_status": """
            SELECT job_type, status, COUNT(*) AS count, MAX(created_at) AS latest_job,
                   AVG((julianday(COALESCE(completed_at, datetime('now'))) - julianday(started_at)) * 86400.0)
                       AS avg_duration_seconds
            FROM jobs
            WHERE created_at > datetime('now', '-24 hours')
            GROUP BY job_type, status""",
        "jobs_failed_summary": """
            SELECT id, job_type, queue, organisation_id, restaurant_id, error_message, error_kind,
                   attempts, max_retries, created_at, started_at, completed_at
            FROM jobs
            WHERE status = 'failed' AND attempts <= max_retries""",
        "jobs_metrics": """
            SELECT job_type, COUNT(*) AS total_jobs,
                   SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS completed_count,
                   SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed_count,
                   SUM(CASE WHEN status IN ('pending', 'queued', 'in_progress') THEN 1 ELSE 0 END)
                       AS in_progress_count,
                   ROUND(100.0 * SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) / COUNT(*), 2)
                       AS success_rate_percent,
                   ROUND(AVG((julianday(completed_at) - julianday(started_at)) * 86400.0), 3)
                       AS avg_duration_seconds
            FROM jobs
            WHERE created_at > datetime('now', '-7 days')
            GROUP BY job_type""",
    },
}


def create_health_views() -> None:
    for name, body in _VIEWS[op.get_context().dialect.name].items():
        op.execute(f"CREATE VIEW {name} AS {body}")


def drop_health_views() -> None:
    for name in _VIEWS[op.get_context().dialect.name]:
        op.execute(f"DROP VIEW IF EXISTS {name}")


def tune_queue_table() -> None:
    """A hot queue table churns: vacuum and analyse it far more often than the defaults."""
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000, "
            "autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_cost_delay = 0, fillfactor = 85)"
        )
