"""The schema: every table, constraint and index, for SQLite and PostgreSQL alike.

The migrations in ``store/migrations`` build exactly this; a test compares the two.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from onboardflow.domain.statuses import (
    BatchStatus,
    JobStatus,
    RegistrationStatus,
    StepStatus,
    StepType,
    UserRole,
)
from onboardflow.store.types import BigIntPK, JSONType, UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ACTIVE_JOB_STATES = ("pending", "queued", "in_progress")
ACTIVE_REGISTRATION_STATES = ("pending", "in_progress", "action_required")


def _in(column: str, values: type[StrEnum] | tuple[str, ...]) -> str:
    items = [v.value for v in values] if isinstance(values, type) else list(values)
    return f"{column} IN ({', '.join(repr(v) for v in items)})"


def _partial(where: str) -> dict[str, Any]:
    return {"sqlite_where": sa.text(where), "postgresql_where": sa.text(where)}


def _uuid_pk() -> sa.Column[object]:
    return sa.Column("id", sa.Uuid(), primary_key=True)


def _org_fk(nullable: bool = False) -> sa.Column[object]:
    return sa.Column(
        "organisation_id",
        sa.Uuid(),
        sa.ForeignKey("organisations.id", ondelete="CASCADE"),
        nullable=nullable,
    )


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ]


organisations = sa.Table(
    "organisations",
    metadata,
    _uuid_pk(),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("settings", JSONType, nullable=False),
    *_timestamps(),
)

users = sa.Table(
    "users",
    metadata,
    _uuid_pk(),
    _org_fk(),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=True),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("last_login_at", UTCDateTime(), nullable=True),
    *_timestamps(),
    sa.CheckConstraint(_in("role", UserRole), name="role"),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    _uuid_pk(),
    _org_fk(),
    sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("last_used_at", UTCDateTime(), nullable=True),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    sa.CheckConstraint(_in("role", UserRole), name="role"),
)

restaurants = sa.Table(
    "restaurants",
    metadata,
    _uuid_pk(),
    _org_fk(),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("address", sa.String(500), nullable=True),
    sa.Column("city", sa.String(200), nullable=True),
    sa.Column("phone", sa.String(50), nullable=True),
    sa.Column("email", sa.String(320), nullable=True),
    sa.Column("website", sa.String(1000), nullable=True),
    sa.Column("cuisine", sa.String(200), nullable=True),
    sa.Column("marketplace_url", sa.String(1000), nullable=True),
    sa.Column("contact_name", sa.String(300), nullable=True),
    sa.Column("contact_email", sa.String(320), nullable=True),
    sa.Column("contact_phone", sa.String(50), nullable=True),
    sa.Column("menu", JSONType, nullable=True),
    sa.Column("branding", JSONType, nullable=True),
    sa.Column("company", JSONType, nullable=True),
    sa.Column("pumpd_user_id", sa.String(100), nullable=True),
    sa.Column("pumpd_restaurant_id", sa.String(100), nullable=True),
    sa.Column("metadata", JSONType, nullable=False),
    *_timestamps(),
    sa.Index("ix_restaurants_org_created", "organisation_id", "created_at"),
    sa.Index("ix_restaurants_org_name", "organisation_id", "name"),
)

leads = sa.Table(
    "leads",
    metadata,
    _uuid_pk(),
    _org_fk(),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("address", sa.String(500), nullable=True),
    sa.Column("city", sa.String(200), nullable=True),
    sa.Column("phone", sa.String(50), nullable=True),
    sa.Column("website", sa.String(1000), nullable=True),
    sa.Column("cuisine", sa.String(200), nullable=True),
    sa.Column("marketplace_url", sa.String(1000), nullable=True),
    sa.Column(
        "restaurant_id", sa.Uuid(), sa.ForeignKey("restaurants.id", ondelete="SET NULL"), nullable=True
    ),
    sa.Column("converted_at", UTCDateTime(), nullable=True),
    sa.Column("metadata", JSONType, nullable=False),
    *_timestamps(),
    sa.Index("ix_leads_org_created", "organisation_id", "created_at"),
)

registration_batch_jobs = sa.Table(
    "registration_batch_jobs",
    metadata,
    _uuid_pk(),
    _org_fk(),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("settings", JSONType, nullable=False),
    sa.Column("total_restaurants", sa.Integer(), nullable=False),
    sa.Column("created_by", sa.Uuid(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    sa.Column("error_message", sa.Text(), nullable=True),
    sa.Column("metadata", JSONType, nullable=False),
    *_timestamps(),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("completed_at", UTCDateTime(), nullable=True),
    sa.Column("cancelled_at", UTCDateTime(), nullable=True),
    sa.CheckConstraint(_in("status", BatchStatus), name="status"),
    sa.Index("ix_registration_batch_jobs_org_created", "organisation_id", "created_at"),
)

registration_jobs = sa.Table(
    "registration_jobs",
    metadata,
    _uuid_pk(),
    _org_fk(),
    sa.Column(
        "batch_job_id",
        sa.Uuid(),
        sa.ForeignKey("registration_batch_jobs.id", ondelete="CASCADE"),
        nullable=True,
    ),
    sa.Column(
        "restaurant_id", sa.Uuid(), sa.ForeignKey("restaurants.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("current_step", sa.String(40), nullable=True),
    sa.Column("current_phase", sa.String(10), nullable=True),
    sa.Column("execution_config", JSONType, nullable=False),
    sa.Column("execution_results", JSONType, nullable=False),
    sa.Column("pumpd_user_id", sa.String(100), nullable=True),
    sa.Column("pumpd_restaurant_id", sa.String(100), nullable=True),
    sa.Column("error_message", sa.Text(), nullable=True),
    sa.Column("created_by", sa.Uuid(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    sa.Column("metadata", JSONType, nullable=False),
    *_timestamps(),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("completed_at", UTCDateTime(), nullable=True),
    sa.Column("cancelled_at", UTCDateTime(), nullable=True),
    sa.CheckConstraint(_in("status", RegistrationStatus), name="status"),
    sa.CheckConstraint(
        "current_phase IS NULL OR " + _in("current_phase", ("phase1", "phase2", "phase3", "phase4")),
        name="current_phase",
    ),
    sa.Index("ix_registration_jobs_batch_status", "batch_job_id", "status"),
    sa.Index("ix_registration_jobs_restaurant_created", "restaurant_id", "created_at"),
    sa.Index("ix_registration_jobs_org_created", "organisation_id", "created_at"),
    sa.Index(
        "uq_registration_jobs_one_active_single_run",
        "restaurant_id",
        unique=True,
        **_partial("batch_job_id IS NULL AND " + _in("status", ACTIVE_REGISTRATION_STATES)),
    ),
)

registration_job_steps = sa.Table(
    "registration_job_steps",
    metadata,
    _uuid_pk(),
    _org_fk(),
    sa.Column(
        "registration_job_id",
        sa.Uuid(),
        sa.ForeignKey("registration_jobs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "parent_step_id",
        sa.Uuid(),
        sa.ForeignKey("registration_job_steps.id", ondelete="CASCADE"),
        nullable=True,
    ),
    sa.Column("step_key", sa.String(40), nullable=False),
    sa.Column("step_number", sa.Integer(), nullable=False),
    sa.Column("phase", sa.Integer(), nullable=True),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("step_type", sa.String(20), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("max_retries", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
    sa.Column("input", JSONType, nullable=False),
    sa.Column("answer_schema", JSONType, nullable=True),
    sa.Column("answer", JSONType, nullable=True),
    sa.Column("answered_by", sa.Uuid(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    sa.Column("answered_at", UTCDateTime(), nullable=True),
    sa.Column("result", JSONType, nullable=True),
    sa.Column("warning", sa.Text(), nullable=True),
    sa.Column("error_message", sa.Text(), nullable=True),
    sa.Column("skip_reason", sa.Text(), nullable=True),
    sa.Column("job_id", sa.Uuid(), nullable=True),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("completed_at", UTCDateTime(), nullable=True),
    sa.Column("duration_ms", sa.Integer(), nullable=True),
    *_timestamps(),
    sa.CheckConstraint(_in("status", StepStatus), name="status"),
    sa.CheckConstraint(_in("step_type", StepType), name="step_type"),
    sa.CheckConstraint("phase IS NULL OR (phase >= 1 AND phase <= 4)", name="phase"),
    sa.UniqueConstraint("registration_job_id", "step_key", name="uq_registration_job_steps_job_key"),
    sa.Index(
        "ix_registration_job_steps_waiting",
        "organisation_id",
        "step_key",
        "created_at",
        **_partial("status = 'action_required'"),
    ),
    sa.Index("ix_registration_job_steps_parent", "parent_step_id"),
)

company_candidates = sa.Table(
    "company_candidates",
    metadata,
    _uuid_pk(),
    _org_fk(),
    sa.Column(
        "registration_job_id",
        sa.Uuid(),
        sa.ForeignKey("registration_jobs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "restaurant_id", sa.Uuid(), sa.ForeignKey("restaurants.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("company_number", sa.String(50), nullable=False),
    sa.Column("nzbn", sa.String(20), nullable=True),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("status", sa.String(50), nullable=True),
    sa.Column("registered_address", sa.String(500), nullable=True),
    sa.Column("score", sa.Float(), nullable=False),
    sa.Column("match_reasons", JSONType, nullable=False),
    sa.Column("matched_by", sa.String(20), nullable=False),
    sa.Column("raw", JSONType, nullable=False),
    sa.Column("removed_at", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("registration_job_id", "company_number", name="uq_company_candidates_job_company"),
    sa.Index("ix_company_candidates_job_score", "registration_job_id", "score"),
)

registration_logs = sa.Table(
    "registration_logs",
    metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    _org_fk(),
    sa.Column(
        "registration_job_id",
        sa.Uuid(),
        sa.ForeignKey("registration_jobs.id", ondelete="CASCADE"),
        nullable=True,
    ),
    sa.Column("step_key", sa.String(40), nullable=True),
    sa.Column("restaurant_id", sa.Uuid(), sa.ForeignKey("restaurants.id", ondelete="CASCADE"), nullable=True),
    sa.Column("service", sa.String(40), nullable=False),
    sa.Column("operation", sa.String(60), nullable=False),
    sa.Column("idempotency_key", sa.String(200), nullable=True),
    sa.Column("attempt", sa.Integer(), nullable=True),
    sa.Column("request", JSONType, nullable=True),
    sa.Column("response", JSONType, nullable=True),
    sa.Column("status", sa.String(40), nullable=False),
    sa.Column("error_message", sa.Text(), nullable=True),
    sa.Column("duration_ms", sa.Integer(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_registration_logs_job", "registration_job_id", "id"),
)

jobs = sa.Table(
    "jobs",
    metadata,
    _uuid_pk(),
    _org_fk(nullable=True),
    sa.Column("job_type", sa.String(60), nullable=False),
    sa.Column("job_category", sa.String(40), nullable=True),
    sa.Column("queue", sa.String(60), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("priority", sa.SmallInteger(), nullable=False),
    sa.Column("input_payload", JSONType, nullable=False),
    sa.Column("result", JSONType, nullable=True),
    sa.Column("error_message", sa.Text(), nullable=True),
    sa.Column("error_kind", sa.String(20), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("max_retries", sa.Integer(), nullable=False),
    sa.Column("timeout_seconds", sa.Float(), nullable=True),
    sa.Column("execution_time_ms", sa.Integer(), nullable=True),
    sa.Column("run_at", UTCDateTime(), nullable=False),
    sa.Column("lease_owner", sa.String(100), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
    sa.Column("cancel_requested", sa.Boolean(), nullable=False),
    sa.Column("unique_key", sa.String(300), nullable=True),
    # A job of a limited queue claimed while every slot of the queue was taken, to run in the slot of
    # this job of the same worker once that one is done (``domain.jobs.holds_a_slot``). No foreign
    # key: the other job may be pruned long before this one is.
    sa.Column("takes_slot_of", sa.Uuid(), nullable=True),
    sa.Column(
        "restaurant_id", sa.Uuid(), sa.ForeignKey("restaurants.id", ondelete="SET NULL"), nullable=True
    ),
    sa.Column("created_by", sa.Uuid(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    sa.Column("parent_job_id", sa.Uuid(), sa.ForeignKey("jobs.id", ondelete="SET NULL"), nullable=True),
    sa.Column("metadata", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("completed_at", UTCDateTime(), nullable=True),
    sa.Column("cancelled_at", UTCDateTime(), nullable=True),
    sa.CheckConstraint(_in("status", JobStatus), name="status"),
    sa.CheckConstraint("priority >= -10 AND priority <= 10", name="priority"),
    sa.CheckConstraint("attempts >= 0 AND max_retries >= 0", name="attempts"),
    # The claim reads exactly this index: runnable jobs in priority order, FIFO within a priority.
    sa.Index(
        "ix_jobs_claim",
        sa.text("priority DESC"),
        "run_at",
        "id",
        **_partial(_in("status", ("pending", "queued"))),
    ),
    # A limited queue's claim and hand-over read one queue's runnable jobs, in the same order: with
    # the queue first, they do not step over every other queue's jobs that are due before them.
    sa.Index(
        "ix_jobs_claim_queue",
        "queue",
        sa.text("priority DESC"),
        "run_at",
        "id",
        **_partial(_in("status", ("pending", "queued"))),
    ),
    sa.Index(
        "uq_jobs_unique_key_active",
        "unique_key",
        unique=True,
        **_partial("unique_key IS NOT NULL AND " + _in("status", ACTIVE_JOB_STATES)),
    ),
    sa.Index("ix_jobs_lease", "lease_owner", **_partial("status = 'in_progress'")),
    # Counting a limited queue's running jobs at every claim reads only this small index.
    sa.Index("ix_jobs_running_queue", "queue", **_partial("status = 'in_progress'")),
    sa.Index("ix_jobs_org_created", "organisation_id", "created_at"),
    sa.Index("ix_jobs_parent", "parent_job_id"),
    sa.Index(
        "ix_jobs_finished", "completed_at", **_partial(_in("status", ("completed", "failed", "cancelled")))
    ),
)

workers = sa.Table(
    "workers",
    metadata,
    sa.Column("id", sa.String(100), primary_key=True),
    sa.Column("hostname", sa.String(200), nullable=False),
    sa.Column("pid", sa.Integer(), nullable=False),
    sa.Column("queues", JSONType, nullable=False),
    sa.Column("concurrency", sa.Integer(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("heartbeat_at", UTCDateTime(), nullable=False),
    sa.Column("stopping", sa.Boolean(), nullable=False),
)

queues = sa.Table(
    "queues",
    metadata,
    sa.Column("name", sa.String(60), primary_key=True),
    sa.Column("paused", sa.Boolean(), nullable=False),
    sa.Column("concurrency_limit", sa.Integer(), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.CheckConstraint("concurrency_limit IS NULL OR concurrency_limit > 0", name="concurrency_limit"),
)

maintenance_leader = sa.Table(
    "maintenance_leader",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("worker_id", sa.String(100), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    _org_fk(nullable=True),
    sa.Column("entity_type", sa.String(30), nullable=False),
    sa.Column("entity_id", sa.Uuid(), nullable=False),
    sa.Column("batch_job_id", sa.Uuid(), nullable=True),
    sa.Column("registration_job_id", sa.Uuid(), nullable=True),
    sa.Column("from_status", sa.String(20), nullable=True),
    sa.Column("to_status", sa.String(20), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("data", JSONType, nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_events_org_id", "organisation_id", "id"),
    sa.Index("ix_events_entity", "entity_id", "id"),
)
