"""The HTTP intake service (FastAPI): ``create_app(App)``; run it with ``compliance serve``.

Routes: ``POST /v1/releases`` (scope submit), ``GET /v1/releases/{id}``,
``GET /v1/scans/{id}`` and ``GET /v1/scans/{id}/explain`` (scope read),
``/v1/catalogue/tracks...`` (scope admin), ``/v1/webhooks`` (scope submit, see
:mod:`compliance.api.webhook_routes`), ``/health/live``, ``/health/ready``, ``/metrics``.
Every error is ``{"error": {"code", "message"}}`` (see :mod:`compliance.api.errors`).
"""

from __future__ import annotations

from fastapi import FastAPI

from compliance.app import App


def create_app(app: App) -> FastAPI:
    """The FastAPI application serving ``app`` (its store, blobs, policy, catalogue)."""
    from compliance.api.catalogue import router as catalogue
    from compliance.api.errors import install_error_handlers
    from compliance.api.metrics import install_metrics
    from compliance.api.ratelimit import RateLimiter, RateLimitHeaders
    from compliance.api.routes import health, v1
    from compliance.api.webhook_routes import hooks

    api = FastAPI(
        title="release-compliance-checker",
        version="0.1.0",
        description="Submit releases for compliance scans; poll the scans for decisions.",
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
    api.include_router(hooks)
    api.include_router(health)
    return api


__all__ = ["create_app"]
