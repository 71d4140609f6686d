"""Prometheus metrics: operations by route, key type and result; latency; sealed state.

Each worker process keeps its own counters (labelled with its pid) so a scrape
of any worker is consistent; aggregate across workers in Prometheus.
"""

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry()
OPERATIONS = Counter(
    "skms_operations", "Requests by route, key type and result", ["route", "key_type", "result"], registry=REGISTRY
)
LATENCY = Histogram(
    "skms_request_seconds",
    "Request latency by route",
    ["route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
STORE_CORRUPTION = Counter(
    "skms_store_corruption", "Stored rows that failed authentication, by what they held", ["what"], registry=REGISTRY
)
SEALED = Gauge("skms_sealed", "1 when this worker is sealed", ["pid"], registry=REGISTRY)
WITNESS = Counter(
    "skms_audit_witness", "Checkpoints sent to the audit witness, by result (ok, failed)", ["result"], registry=REGISTRY
)
REFUSALS = Counter(
    "skms_audit_refusals",
    "Refused requests audited (result denied: failed authentication; invalid: bad input), by whether an "
    "individual record was written or the refusal was counted into a summary record",
    ["result", "recorded"],
    registry=REGISTRY,
)


def witness_delivery(ok: bool) -> None:
    WITNESS.labels("ok" if ok else "failed").inc()


def refusal(result: str, individual: bool) -> None:
    REFUSALS.labels(result, "individual" if individual else "summary").inc()


def count_corruption(what: str) -> None:
    STORE_CORRUPTION.labels(what).inc()


def observe(route: str, key_type: str, status: int, seconds: float) -> None:
    result = "ok" if status < 400 else ("client_error" if status < 500 else "server_error")
    OPERATIONS.labels(route, key_type, result).inc()
    LATENCY.labels(route).observe(seconds)


def render_metrics(sealed: bool) -> tuple[bytes, str]:
    SEALED.labels(str(os.getpid())).set(1 if sealed else 0)
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
