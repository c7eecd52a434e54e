"""The HTTP intake service (FastAPI): ``create_app(App)``; run it with ``compliance serve``.

Routes: ``POST /v1/releases`` (scope submit), ``GET /v1/releases/{id}``,
``GET /v1/scans/{id}`` and ``GET /v1/scans/{id}/explain`` (scope read),
``/v1/catalogue/tracks...`` (scope admin), ``/v1/webhooks`` (scope submit, see
:mod:`compliance.api.webhook_routes`), ``/health/live``, ``/health/ready``, ``/metrics``.
Every error is ``{"error": {"code", "message"}}`` (see :mod:`compliance.api.errors`).
"""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import asynccontextmanager

from fastapi import FastAPI

from compliance.app import App


def create_app(app: App, *, freeze_gc: bool = False) -> FastAPI:
    """The FastAPI application serving ``app`` (its store, blobs, policy, catalogue).

    With ``freeze_gc`` (``compliance serve``), everything alive when start-up ends is
    moved out of the garbage collector's reach (``gc.freeze``): a full collection then
    scans only what requests made since, not the start-up heap of the libraries, the
    policy and the index. Measured under load: a full collection over that heap stopped
    the API process for 77 ms, and every status read in flight waited for it.
    """
    from compliance.api.catalogue import router as catalogue
    from compliance.api.errors import install_error_handlers
    from compliance.api.metrics import install_metrics, watch_loop_lag
    from compliance.api.ratelimit import RateLimiter, RateLimitHeaders
    from compliance.api.routes import health, v1
    from compliance.api.voices import router as voices
    from compliance.api.webhook_routes import hooks

    @asynccontextmanager
    async def lifespan(_api: FastAPI):
        # As many threads for the sync routes (and upload parsing) as the store pools
        # connections: a request thread never waits for a connection, and no more
        # threads contend for the GIL than can do database work at once.
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = app.settings.db_pool_size
        # Uploads are parsed and stored a few at a time (read_upload_then).
        _api.state.upload_limiter = anyio.CapacityLimiter(app.settings.upload_threads)
        await anyio.to_thread.run_sync(open_request_resources, app)
        reader = _status_reader(app)
        if reader is not None:
            await reader.open()
            _api.state.reader = reader
        lag = asyncio.create_task(watch_loop_lag(_api.state.metrics.loop_lag))
        if freeze_gc:
            import gc

            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            lag.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lag
            if reader is not None:
                _api.state.reader = None
                await reader.close()

    api = FastAPI(
        title="release-compliance-checker",
        version="0.1.0",
        description="Submit releases for compliance scans; poll the scans for decisions.",
        lifespan=lifespan,
    )
    api.state.core = app
    # Always a limiter: keys may have their own rate even when the default is off.
    rate = app.settings.rate_limit
    api.state.limiter = RateLimiter(*rate) if rate is not None else RateLimiter(None)
    api.add_middleware(RateLimitHeaders)
    install_error_handlers(api)
    install_metrics(api, app)
    api.include_router(v1)
    api.include_router(catalogue)
    api.include_router(voices)
    api.include_router(hooks)
    api.include_router(health)
    return api


def open_request_resources(app: App) -> None:
    """Open, before the first request, what requests would otherwise open on first use:
    the blob store (it makes and fsyncs its 256 fan-out folders, on the event loop when
    the first upload arrives) and, when the database is already open (``serve`` opens it
    before the app), the key cache and the precompiled SQL of a status read and of a
    one-file submission. Measured: the first upload to a fresh API process took 40 ms
    more than the next, most of it in the blob store's ``mkdir`` calls, while the event
    loop could serve nothing else; with ``serve --workers N`` every process but the one a
    client happened to warm answered its first wave that way (docs/benchmarks.md)."""
    app.blobs  # noqa: B018
    store = app.__dict__.get("store")  # not opened here: an unreachable database is a
    if store is None:  # 503 from /health/ready and the routes, not a failed start-up
        return
    app.key_cache  # noqa: B018
    if store.backend == "postgresql":
        from compliance.api import intake

        intake.scan_sql(store.engine.dialect)
        intake.new_release_sql(1, store.engine.dialect)


def _status_reader(app: App):
    """The event-loop reader of status reads on PostgreSQL (None on SQLite)."""
    from sqlalchemy.engine import make_url

    url = app.settings.database_url
    if make_url(url).get_backend_name() != "postgresql":
        return None
    from compliance.api.async_reads import AsyncReader, libpq_conninfo

    try:
        return AsyncReader(
            libpq_conninfo(url), max_size=min(READ_POOL_SIZE, app.settings.db_pool_size)
        )
    except ImportError as exc:  # psycopg-pool missing: the reads take the thread path
        import logging

        logging.getLogger("compliance.api").warning(
            "status reads use worker threads: %s is not installed (the 'postgres' extra)",
            exc.name or "psycopg_pool",
        )
        return None


#: Connections of the event-loop reader (per API process). A status read or a
#: submission's insert holds one only for its statement's round trip (a fraction of a
#: millisecond), so a few serve hundreds a second, and the database's connection limit
#: is left to the store's pool and workers.
READ_POOL_SIZE = 4


def create_app_from_env() -> FastAPI:
    """The application of one API process of ``compliance serve --workers N`` (a uvicorn
    factory): its own :class:`App` from the ``COMPLIANCE_*`` environment, database and
    policy opened before the first request (the parent already migrated the schema)."""
    from compliance.settings import Settings

    app = App(Settings.from_env())
    app.store  # noqa: B018
    app.policy  # noqa: B018
    return create_app(app, freeze_gc=True)


__all__ = ["create_app", "create_app_from_env"]
