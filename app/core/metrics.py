"""Prometheus metrics: requests by route, latency, and the sync pipeline's backlog.

Request counters are kept by each process. Under `serve --workers N` every worker process
writes them to files in one directory (prometheus-client's multiprocess mode; `serve` sets
`PROMETHEUS_MULTIPROC_DIR` to a fresh directory before it starts them), and a scrape answers
their sum whichever process serves it, so counters never go backwards between scrapes. The
outbox and webhook numbers are read from the database at scrape time and reported as read:
they are the same for every process and must not be summed.
"""

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

# prometheus-client picks file-backed values from this variable when it is first imported;
# the exposition must then sum those files rather than read this process's own registry.
MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None

REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "bb_http_requests_total",
    "HTTP requests answered",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "bb_http_request_duration_seconds",
    "Time to answer a request",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)


@dataclass(frozen=True)
class PipelineSnapshot:
    """The sync pipeline as the database shows it at scrape time."""

    outbox_jobs: Mapping[str, int]  # by state
    oldest_pending_s: float
    deliveries: Mapping[str, int]  # webhook deliveries by outcome


class _SnapshotCollector(Collector):
    def __init__(self, snapshot: PipelineSnapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("bb_outbox_jobs", "Outbox jobs by state", labels=["state"])
        for state, count in sorted(self._snapshot.outbox_jobs.items()):
            jobs.add_metric([state], count)
        yield jobs
        yield GaugeMetricFamily(
            "bb_outbox_oldest_pending_seconds",
            "Age of the oldest pending outbox job",
            value=self._snapshot.oldest_pending_s,
        )
        deliveries = GaugeMetricFamily(
            "bb_webhook_deliveries", "Webhook deliveries by outcome", labels=["outcome"]
        )
        for outcome, count in sorted(self._snapshot.deliveries.items()):
            deliveries.add_metric([outcome], count)
        yield deliveries


def observe(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


def _processes() -> CollectorRegistry:
    """This process's counters, or the sum over every worker process's files."""
    if MULTIPROCESS_DIR is None:
        return REGISTRY
    summed = CollectorRegistry()
    MultiProcessCollector(summed, path=MULTIPROCESS_DIR)  # type: ignore[no-untyped-call]
    return summed


def exposition(snapshot: PipelineSnapshot) -> bytes:
    pipeline = CollectorRegistry(auto_describe=False)
    pipeline.register(_SnapshotCollector(snapshot))
    return generate_latest(_processes()) + generate_latest(pipeline)
