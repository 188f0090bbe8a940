"""`onboardflow jobs`, `queue` and `prune`: operators see and act on every organisation's jobs,
errors are a message and a non-zero exit, and prune deletes only old finished jobs, in batches."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from onboardflow.cli.main import app
from onboardflow.config import Settings
from onboardflow.domain.records import Principal
from onboardflow.domain.statuses import UserRole
from onboardflow.operations import accounts
from onboardflow.operations import jobs as ops
from onboardflow.operations.services import Services, build_services, close_services
from onboardflow.store.tables import jobs
from onboardflow.store.types import utcnow

runner = CliRunner()
T = TypeVar("T")


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONBOARDFLOW_DATABASE_URL", database_url)
    monkeypatch.setenv("ONBOARDFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ONBOARDFLOW_SECRET_KEY", "test-secret-key")
    monkeypatch.setenv("COLUMNS", "200")


def with_services(settings: Settings, action: Callable[[Services], Awaitable[T]]) -> T:
    """Run ``action`` with services of its own (the CLI under test runs its own event loops)."""

    async def run() -> T:
        services = build_services(settings)
        try:
            return await action(services)
        finally:
            await close_services(services)

    return asyncio.run(run())


async def _org(services: Services, name: str) -> Principal:
    org = await accounts.create_organisation(services, name)
    return Principal(organisation_id=org.id, role=UserRole.ADMIN)


async def _enqueue(services: Services, principal: Principal, **fields: Any) -> str:
    result = await ops.enqueue_job(services, principal, ops.JobRequest(job_type="noop", **fields))
    return str(result.job["id"])


def invoke(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def two_orgs(cli_env: None, settings: Settings) -> dict[str, str]:
    """Org A with a queued job, a cancelled job and a secret-bearing job; Org B with one job."""

    async def seed(services: Services) -> dict[str, str]:
        a, b = await _org(services, "Org A"), await _org(services, "Org B")
        ids = {
            "a_queued": await _enqueue(services, a, payload={"n": 1}),
            "a_cancelled": await _enqueue(services, a, payload={"n": 2}),
            "a_secret": await _enqueue(services, a, payload={"password": "hunter2"}),
            "b_queued": await _enqueue(services, b, payload={"n": 3}),
        }
        await ops.cancel_job(services, a, UUID(ids["a_cancelled"]))
        return ids

    return with_services(settings, seed)


def test_jobs_ls_lists_every_organisations_jobs_and_narrows_by_org_status_and_type(
    two_orgs: dict[str, str],
) -> None:
    everything = invoke("jobs", "ls")
    assert everything.exit_code == 0, everything.output
    assert all(job_id in everything.output for job_id in two_orgs.values())
    assert "4 of 4 jobs" in everything.output
    only_a = invoke("jobs", "ls", "--org", "Org A")
    assert two_orgs["a_queued"] in only_a.output
    assert two_orgs["b_queued"] not in only_a.output
    cancelled = invoke("jobs", "ls", "--status", "cancelled")
    assert two_orgs["a_cancelled"] in cancelled.output
    assert two_orgs["a_queued"] not in cancelled.output
    assert "1 of 1 jobs" in cancelled.output
    other_type = invoke("jobs", "ls", "--type", "import_csv")
    assert "0 of 0 jobs" in other_type.output
    limited = invoke("jobs", "ls", "--limit", "1")
    assert "1 of 4 jobs" in limited.output


def test_jobs_ls_with_an_unknown_org_or_status_fails_with_a_message(two_orgs: dict[str, str]) -> None:
    unknown = invoke("jobs", "ls", "--org", "Nobody")
    assert unknown.exit_code == 1
    assert "no organisation named 'Nobody'" in unknown.output
    bad_status = invoke("jobs", "ls", "--status", "sleeping")
    assert bad_status.exit_code == 2


def test_jobs_show_prints_the_job_with_secrets_redacted(two_orgs: dict[str, str]) -> None:
    shown = invoke("jobs", "show", two_orgs["a_secret"])
    assert shown.exit_code == 0, shown.output
    assert two_orgs["a_secret"] in shown.output
    assert "queued" in shown.output
    assert "***" in shown.output
    assert "hunter2" not in shown.output


def test_jobs_show_of_an_unknown_id_exits_1_and_a_malformed_id_exits_2(cli_env: None) -> None:
    missing = invoke("jobs", "show", "00000000-0000-0000-0000-000000000001")
    assert missing.exit_code == 1
    assert "job not found" in missing.output
    assert invoke("jobs", "show", "not-an-id").exit_code == 2


def test_jobs_cancel_then_retry_and_retry_of_a_queued_job_fails(
    two_orgs: dict[str, str], settings: Settings
) -> None:
    job_id = two_orgs["b_queued"]
    cancelled = invoke("jobs", "cancel", job_id)
    assert cancelled.exit_code == 0, cancelled.output
    assert f"job {job_id} is cancelled" in cancelled.output
    retried = invoke("jobs", "retry", job_id)
    assert retried.exit_code == 0, retried.output
    assert f"job {job_id} is queued again" in retried.output
    again = invoke("jobs", "retry", job_id)
    assert again.exit_code == 1
    assert "only a failed or cancelled job can be retried" in again.output
    job = with_services(settings, lambda s: ops.get_job(s, ops.Operator(), UUID(job_id)))
    assert (job["status"], job["attempts"]) == ("queued", 0)


def test_queue_pause_resume_and_limit_change_the_cluster_wide_settings(
    two_orgs: dict[str, str], settings: Settings
) -> None:
    paused = invoke("queue", "pause", "default")
    assert paused.exit_code == 0, paused.output
    assert "queue default: paused, concurrency limit none" in paused.output
    limited = invoke("queue", "limit", "default", "3")
    assert "queue default: paused, concurrency limit 3" in limited.output
    listed = invoke("queue", "ls")
    assert listed.exit_code == 0, listed.output
    assert "default" in listed.output
    resumed = invoke("queue", "resume", "default")
    assert "queue default: running, concurrency limit 3" in resumed.output
    unlimited = invoke("queue", "limit", "default", "none")
    assert "queue default: running, concurrency limit none" in unlimited.output
    page = with_services(settings, lambda s: ops.list_queues(s, ops.Operator(), limit=10, offset=0))
    default = next(q for q in page.items if q["name"] == "default")
    assert (default["paused"], default["concurrency_limit"], default["jobs"]["queued"]) == (False, None, 3)


@pytest.mark.parametrize("limit", ["0", "-2", "three", "10001"])
def test_queue_limit_rejects_anything_but_a_positive_number_or_none(cli_env: None, limit: str) -> None:
    result = invoke("queue", "limit", "default", limit)
    assert result.exit_code == 2, result.output


def test_queue_pause_with_an_invalid_name_fails_with_a_message(cli_env: None) -> None:
    result = invoke("queue", "pause", "no spaces please")
    assert result.exit_code == 1
    assert "name:" in result.output


async def _backdate(services: Services, job_ids: list[str], age: timedelta) -> None:
    async with services.db.write() as conn:
        await conn.execute(
            sa.update(jobs)
            .where(jobs.c.id.in_([UUID(i) for i in job_ids]))
            .values(completed_at=utcnow() - age)
        )


def test_prune_deletes_only_finished_jobs_older_than_the_age_and_prints_how_many(
    cli_env: None, settings: Settings
) -> None:
    async def seed(services: Services) -> dict[str, list[str]]:
        org = await _org(services, "Org A")
        old = [await _enqueue(services, org) for _ in range(5)]
        recent = await _enqueue(services, org)
        waiting = await _enqueue(services, org)
        for job_id in [*old, recent]:
            await ops.cancel_job(services, org, UUID(job_id))
        await _backdate(services, old, timedelta(days=31))
        await _backdate(services, [recent], timedelta(days=29))
        await _backdate(services, [waiting], timedelta(days=90))
        return {"old": old, "kept": [recent, waiting]}

    ids = with_services(settings, seed)
    result = invoke("prune", "--older-than", "30d", "--batch-size", "2")
    assert result.exit_code == 0, result.output
    assert "pruned 5 finished jobs older than 30d" in result.output
    left = with_services(settings, lambda s: ops.list_jobs(s, ops.Operator(), limit=50, offset=0))
    assert {str(j["id"]) for j in left.items} == set(ids["kept"])
    nothing = invoke("prune", "--older-than", "30d")
    assert "pruned 0 finished jobs" in nothing.output


@pytest.mark.parametrize("age", ["30", "0d", "3w", "-1d", "d", "36501d", "99999999999999m"])
def test_prune_rejects_an_age_without_a_positive_number_and_a_unit(cli_env: None, age: str) -> None:
    result = invoke("prune", "--older-than", age)
    assert result.exit_code == 2, result.output
    assert "pruned" not in result.output


@pytest.mark.parametrize(
    ("text", "age"),
    [("30d", timedelta(days=30)), ("12h", timedelta(hours=12)), ("90m", timedelta(minutes=90))],
)
def test_prune_ages_read_days_hours_and_minutes(text: str, age: timedelta) -> None:
    from onboardflow.cli.jobs import parse_age

    assert parse_age(text) == age


async def test_pruning_runs_in_batches_of_at_most_the_batch_size(services: Services, tenant: Any) -> None:
    ids = [await _enqueue(services, tenant.principal) for _ in range(5)]
    for job_id in ids:
        await ops.cancel_job(services, tenant.principal, UUID(job_id))
    await _backdate(services, ids, timedelta(hours=2))
    batches: list[int] = []
    deleted = await ops.prune_finished_jobs(
        services, older_than=timedelta(hours=1), batch_size=2, on_batch=batches.append
    )
    assert deleted == 5
    assert batches == [2, 2, 1]
    assert await ops.count_prunable(services, older_than=timedelta(hours=1)) == 0
