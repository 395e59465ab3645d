"""Prometheus metrics: requests by route, latency, and the sync pipeline's backlog.

Counters live per process (each API replica and worker exposes its own); the outbox and
webhook numbers are read from the database at scrape time, so every replica reports the same.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

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
OUTBOX_DEPTH = Gauge("bb_outbox_jobs", "Outbox jobs by state", ["state"], registry=REGISTRY)
OUTBOX_OLDEST = Gauge(
    "bb_outbox_oldest_pending_seconds", "Age of the oldest pending outbox job", registry=REGISTRY
)
DELIVERIES = Gauge(
    "bb_webhook_deliveries", "Webhook deliveries by outcome", ["outcome"], registry=REGISTRY
)


def observe(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


def exposition() -> bytes:
    return generate_latest(REGISTRY)
