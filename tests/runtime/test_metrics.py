"""The worker's Prometheus metrics: ``record_outcome`` counts attempts and their durations, and
``render`` adds the database's cluster-wide counts."""

from __future__ import annotations

import pytest

from onboardflow.domain.statuses import JobStatus
from onboardflow.runtime import metrics
from onboardflow.store.job_reports import ClusterCounts


def _attempts(job_type: str, outcome: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "onboardflow_job_attempts_total", {"job_type": job_type, "outcome": outcome}
    )
    return value or 0.0


def _duration(job_type: str, outcome: str, sample: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        f"onboardflow_job_duration_seconds_{sample}", {"job_type": job_type, "outcome": outcome}
    )
    return value or 0.0


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (JobStatus.COMPLETED, "completed"),
        (JobStatus.FAILED, "failed"),
        (JobStatus.CANCELLED, "cancelled"),
        (JobStatus.PENDING, "retry_scheduled"),
        (JobStatus.QUEUED, "released"),
        ("completed", "completed"),
    ],
)
def test_record_outcome_counts_one_attempt_under_its_outcome_and_observes_its_duration(
    status: str, outcome: str
) -> None:
    job_type = f"probe-{outcome}"
    count, total, observed = (
        _attempts(job_type, outcome),
        _duration(job_type, outcome, "sum"),
        _duration(job_type, outcome, "count"),
    )
    metrics.record_outcome(job_type, status, 1500)
    assert _attempts(job_type, outcome) == count + 1
    assert _duration(job_type, outcome, "count") == observed + 1
    assert _duration(job_type, outcome, "sum") == pytest.approx(total + 1.5)
    seconds_bucket = metrics.REGISTRY.get_sample_value(
        "onboardflow_job_duration_seconds_bucket", {"job_type": job_type, "outcome": outcome, "le": "2.5"}
    )
    below_bucket = metrics.REGISTRY.get_sample_value(
        "onboardflow_job_duration_seconds_bucket", {"job_type": job_type, "outcome": outcome, "le": "1.0"}
    )
    assert (seconds_bucket or 0) - (below_bucket or 0) >= 1


def test_record_outcome_without_a_duration_counts_the_attempt_but_observes_nothing() -> None:
    observed = _duration("probe-unknown-duration", "failed", "count")
    count = _attempts("probe-unknown-duration", "failed")
    metrics.record_outcome("probe-unknown-duration", "failed", None)
    assert _attempts("probe-unknown-duration", "failed") == count + 1
    assert _duration("probe-unknown-duration", "failed", "count") == observed


def test_render_shows_the_counters_and_the_cluster_gauges_in_prometheus_text() -> None:
    metrics.record_outcome("probe-render", "completed", 5)
    counts = ClusterCounts(
        unfinished={("default", "queued"): 7, ("pumpd", "in_progress"): 2},
        finished_recently={("default", "completed"): 40},
        oldest_due_seconds={"default": 12.5},
        paused={"pumpd": True, "default": False},
        concurrency_limits={"pumpd": 3},
        workers_alive=2,
        worker_slots=20,
    )
    text = metrics.render(counts).decode()
    lines = set(text.splitlines())
    assert 'onboardflow_jobs{queue="default",status="queued"} 7.0' in lines
    assert 'onboardflow_jobs{queue="pumpd",status="in_progress"} 2.0' in lines
    assert 'onboardflow_jobs_finished_24h{queue="default",status="completed"} 40.0' in lines
    assert 'onboardflow_queue_oldest_due_seconds{queue="default"} 12.5' in lines
    assert 'onboardflow_queue_paused{queue="pumpd"} 1.0' in lines
    assert 'onboardflow_queue_paused{queue="default"} 0.0' in lines
    assert 'onboardflow_queue_concurrency_limit{queue="pumpd"} 3.0' in lines
    assert "onboardflow_workers_alive 2.0" in lines
    assert "onboardflow_worker_slots 20.0" in lines
    assert any(line.startswith('onboardflow_job_attempts_total{job_type="probe-render"') for line in lines)
    assert "# TYPE onboardflow_job_duration_seconds histogram" in lines


def test_render_without_database_counts_shows_only_this_process() -> None:
    text = metrics.render(None).decode()
    assert "onboardflow_job_attempts_total" in text or "# TYPE onboardflow_job_attempts counter" in text
    assert "onboardflow_workers_alive" not in text
