"""Prometheus metrics: what this process's workers did, and the queue's state read at scrape time.

In-process (updated by the worker through ``record_outcome``):

- ``onboardflow_job_attempts_total{job_type, outcome}``: attempts this process ended, by outcome
  (``completed``, ``failed``, ``cancelled``, ``retry_scheduled``, ``released``);
- ``onboardflow_job_duration_seconds{job_type, outcome}``: how long those attempts ran;
- the standard ``process_*`` and ``python_*`` metrics.

From the database at each scrape, across every organisation (see ``render``):

- ``onboardflow_jobs{queue, status}``: unfinished jobs (pending, queued, in_progress, paused);
- ``onboardflow_jobs_finished_24h{queue, status}``: jobs that ended in the last 24 h;
- ``onboardflow_queue_oldest_due_seconds{queue}``: how long the oldest due job has waited;
- ``onboardflow_queue_paused{queue}`` and ``onboardflow_queue_concurrency_limit{queue}``;
- ``onboardflow_workers_alive`` and ``onboardflow_worker_slots`` (their summed concurrency).

The in-process metrics describe this process only: scrape every process that runs workers (the
API process runs the embedded worker).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from onboardflow.store.job_reports import ClusterCounts

CONTENT_TYPE = CONTENT_TYPE_LATEST

# How a worker's outcome status reads as a metric label.
OUTCOMES = {
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
    "pending": "retry_scheduled",
    "queued": "released",
}
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

JOB_ATTEMPTS = Counter(
    "onboardflow_job_attempts",
    "Job attempts this process ended, by job type and outcome.",
    ["job_type", "outcome"],
    registry=REGISTRY,
)
JOB_DURATION = Histogram(
    "onboardflow_job_duration_seconds",
    "How long the job attempts this process ended ran, by job type and outcome.",
    ["job_type", "outcome"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)


def outcome_label(status: str) -> str:
    """The ``outcome`` label of an attempt that left its job in ``status``."""
    return OUTCOMES.get(str(status), str(status))


def record_outcome(job_type: str, status: str, duration_ms: float | None) -> None:
    """Count one ended attempt of a ``job_type`` job and, when known, how long it ran."""
    outcome = outcome_label(status)
    JOB_ATTEMPTS.labels(job_type=job_type, outcome=outcome).inc()
    if duration_ms is not None and duration_ms >= 0:
        JOB_DURATION.labels(job_type=job_type, outcome=outcome).observe(duration_ms / 1000)


def cluster_families(counts: ClusterCounts) -> list[Metric]:
    """The gauges read from the database at scrape time."""
    unfinished = GaugeMetricFamily(
        "onboardflow_jobs",
        "Unfinished jobs by queue and status (every organisation).",
        labels=["queue", "status"],
    )
    for (queue, status), n in sorted(counts.unfinished.items()):
        unfinished.add_metric([queue, status], n)
    finished = GaugeMetricFamily(
        "onboardflow_jobs_finished_24h",
        "Jobs that ended in the last 24 hours by queue and status (every organisation).",
        labels=["queue", "status"],
    )
    for (queue, status), n in sorted(counts.finished_recently.items()):
        finished.add_metric([queue, status], n)
    oldest = GaugeMetricFamily(
        "onboardflow_queue_oldest_due_seconds",
        "Seconds the oldest job that is due but not started has waited, by queue.",
        labels=["queue"],
    )
    for queue, seconds in sorted(counts.oldest_due_seconds.items()):
        oldest.add_metric([queue], seconds)
    paused = GaugeMetricFamily("onboardflow_queue_paused", "1 if the queue is paused.", labels=["queue"])
    for queue, is_paused in sorted(counts.paused.items()):
        paused.add_metric([queue], 1.0 if is_paused else 0.0)
    limits = GaugeMetricFamily(
        "onboardflow_queue_concurrency_limit",
        "Cluster-wide limit of the queue's jobs running at once (queues with a limit only).",
        labels=["queue"],
    )
    for queue, limit in sorted(counts.concurrency_limits.items()):
        limits.add_metric([queue], limit)
    alive = GaugeMetricFamily(
        "onboardflow_workers_alive", "Worker processes that heartbeated within the lease time."
    )
    alive.add_metric([], counts.workers_alive)
    slots = GaugeMetricFamily("onboardflow_worker_slots", "Jobs the live workers can run at once, summed.")
    slots.add_metric([], counts.worker_slots)
    return [unfinished, finished, oldest, paused, limits, alive, slots]


class _Scrape(Collector):
    """This process's metrics followed by the database's, as one collector."""

    def __init__(self, counts: ClusterCounts | None) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
        if self._counts is not None:
            yield from cluster_families(self._counts)


def render(counts: ClusterCounts | None) -> bytes:
    """The Prometheus text exposition of this process's metrics and, if given, the database counts."""
    return generate_latest(_Scrape(counts))
