"""Worker-side Prometheus metrics: scan stage durations and scan outcomes.

They live in :data:`WORKER_REGISTRY`, one per process. ``compliance worker
--metrics-port P`` serves it on its own port (each worker process is a scrape target);
with ``compliance serve --embedded-worker`` the API's ``/metrics`` includes it.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

WORKER_REGISTRY = CollectorRegistry()
SCAN_STAGE_SECONDS = Histogram(
    "compliance_scan_stage_seconds",
    "Wall seconds per stage of a scan (decode, catalogue_search, detector.<name>, policy)",
    ["stage"],
    registry=WORKER_REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
SCANS = Counter(
    "compliance_scans",
    "Scans finished by this process, by outcome (decided, content_error, internal_error)",
    ["outcome"],
    registry=WORKER_REGISTRY,
)


def observe_scan(timings_s: dict[str, float], outcome: str) -> None:
    """Record one finished scan."""
    for stage, seconds in timings_s.items():
        SCAN_STAGE_SECONDS.labels(stage).observe(seconds)
    SCANS.labels(outcome).inc()
