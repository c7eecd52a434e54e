"""Prometheus metrics at ``/metrics``: requests by route and status, latencies, queue depth
and the age of the oldest queued job; with an embedded worker also the worker's scan
stage durations (:mod:`compliance.jobs.metrics`).

Each app has its own registry (several apps in one process, as in the tests, do not
collide). Routes are labelled by their template (``/v1/scans/{scan_id}``), and requests
that match no route by ``<unmatched>``, so label values stay few. The queue depth is read
from the database at scrape time. ``/metrics`` needs no API key: expose it only on the
internal network (it tells request rates and queue sizes, no content).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from compliance.jobs import DONE, FAILED, QUEUED, RUNNING

log = logging.getLogger("compliance.api")


GC_REGISTRY = CollectorRegistry()
"""Process-wide: the garbage collector's pauses (one per process, whatever the apps)."""
_GC_PAUSE = Histogram(
    "compliance_gc_pause_seconds", "Garbage collector pauses of this process", ["generation"],
    registry=GC_REGISTRY, buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)  # fmt: skip
_gc_lock = threading.Lock()
_gc_started: list[float] = []


def _on_gc(phase: str, info: dict) -> None:
    if phase == "start":
        _gc_started[:] = [time.perf_counter()]
    elif _gc_started:
        _GC_PAUSE.labels(str(info.get("generation", "?"))).observe(
            time.perf_counter() - _gc_started[0]
        )


def watch_gc() -> None:
    """Record every collection's pause in :data:`GC_REGISTRY` (idempotent). A collection
    stops every thread of the process: a full one over a large heap is a latency spike
    of every request in flight (the reason ``serve`` freezes its start-up heap)."""
    with _gc_lock:
        if _on_gc not in gc.callbacks:
            gc.callbacks.append(_on_gc)


class _QueueDepth(Collector):
    def __init__(self, core) -> None:
        self.core = core

    def collect(self):
        g = GaugeMetricFamily("compliance_jobs", "Jobs in the queue by state", labels=["state"])
        try:
            counts = self.core.queue.counts()
        except Exception as exc:  # a scrape must not fail because the database is down
            log.warning("queue depth unavailable: %s", exc)
            return
        for state in (QUEUED, RUNNING, DONE, FAILED):
            g.add_metric([state], counts.get(state, 0))
        yield g
        age = GaugeMetricFamily(
            "compliance_queue_oldest_age_seconds", "Age of the oldest queued job (0: none)"
        )
        try:
            age.add_metric([], self.core.queue.oldest_queued_age_s())
        except Exception as exc:
            log.warning("queue age unavailable: %s", exc)
            return
        yield age


class Metrics:
    def __init__(self, core) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "compliance_http_requests", "HTTP requests", ["method", "route", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "compliance_http_request_duration_seconds", "HTTP request latency",
            ["method", "route"], registry=self.registry,
            buckets=(0.005, 0.01, 0.02, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )  # fmt: skip
        self.phases = Histogram(
            "compliance_http_request_phase_seconds",
            "Time a request spent in one phase of its route (POST /v1/releases: receive "
            "the body, wait for an upload thread, store the files, resume on the event "
            "loop, record in the database)",
            ["method", "route", "phase"], registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
        )  # fmt: skip
        self.loop_lag = Histogram(
            "compliance_event_loop_lag_seconds",
            "How late the API's event loop ran a timer due every 10 ms: time it spent on "
            "other work (parsing, callbacks, waiting for the interpreter lock)",
            registry=self.registry, buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 1),
        )  # fmt: skip
        self.registry.register(_QueueDepth(core))


LOOP_TICK_S = 0.01
"""How often :func:`watch_loop_lag` samples the event loop, seconds."""


async def watch_loop_lag(histogram: Histogram, *, tick_s: float = LOOP_TICK_S) -> None:
    """Observe, forever, how late the running event loop wakes a timer due every
    ``tick_s``: every request the loop holds (the status reads, the intake's parsing)
    waits that long too. About 100 wake-ups a second, a few microseconds each."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + tick_s
        await asyncio.sleep(tick_s)
        histogram.observe(max(0.0, loop.time() - due))


PHASES_KEY = "server_timing_phases"
"""Key of the request scope's ``state`` under which routes leave their phases."""


def add_phase(scope, name: str, seconds: float) -> None:
    """Record that the request spent ``seconds`` in phase ``name`` (a Server-Timing metric
    name: a token, no spaces). :class:`MetricsMiddleware` adds every phase to the
    answer's ``Server-Timing`` header after ``app`` and observes it in
    ``compliance_http_request_phase_seconds``. ``scope``: the ASGI scope (``request.scope``)."""
    scope.setdefault("state", {}).setdefault(PHASES_KEY, []).append((name, seconds))


class MetricsMiddleware:
    """Pure ASGI middleware (the request body stays a stream for the upload route).

    Every answer carries ``Server-Timing: app;dur=MS`` (the application's time from the
    request's arrival to the answer's head), followed by the phases the route recorded
    with :func:`add_phase` (``POST /v1/releases``: ``receive``, ``wait``, ``store``,
    ``resume``, ``db``; docs/api.md)."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        status = 500

        async def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # the application's own time to the answer (W3C Server-Timing): what a
                # client measures beyond it was spent outside (network, queueing)
                ms = (time.perf_counter() - started) * 1000.0
                value = f"app;dur={ms:.2f}"
                for name, seconds in scope.get("state", {}).get(PHASES_KEY, ()):
                    value += f", {name};dur={seconds * 1000.0:.2f}"
                timing = (b"server-timing", value.encode())
                message = {**message, "headers": [*message.get("headers", ()), timing]}
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "<unmatched>"
            method = scope.get("method", "?")
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)
            for name, seconds in scope.get("state", {}).get(PHASES_KEY, ()):
                self.metrics.phases.labels(method, route, name).observe(seconds)


def install_metrics(api: FastAPI, core) -> None:
    watch_gc()
    metrics = Metrics(core)
    api.state.metrics = metrics  # the lifespan samples the event loop's lag into it
    api.add_middleware(MetricsMiddleware, metrics=metrics)

    @api.get("/metrics", include_in_schema=False)
    def scrape() -> Response:
        from compliance.jobs.metrics import WORKER_REGISTRY

        body = (
            generate_latest(metrics.registry) + generate_latest(WORKER_REGISTRY)
            + generate_latest(GC_REGISTRY)
        )  # fmt: skip
        return Response(body, media_type=CONTENT_TYPE_LATEST)
