"""``Authorization: Bearer rcc_<id>_<secret>`` on every /v1 route, with a scope, and the
key's rate limit (its own or the default; :mod:`compliance.api.ratelimit`)."""

from __future__ import annotations

import asyncio
import logging

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from compliance.api.errors import ApiError
from compliance.api.keys import ApiKey
from compliance.settings import parse_rate

_CHALLENGE = {"WWW-Authenticate": "Bearer"}
log = logging.getLogger(__name__)


def key_rate(key: ApiKey, default: tuple[int, float] | None) -> tuple[int, float] | None:
    """The ``(limit, period_s)`` that applies to ``key`` (None: unlimited): its own rate,
    or ``default`` when it has none. A stored rate that does not parse (written outside
    :class:`KeyStore`) falls back to the default, with a warning."""
    if key.rate is None:
        return default
    try:
        return parse_rate(key.rate)
    except ValueError:
        log.warning("API key %s has an invalid rate_limit %r; using the default", key.id,
                    key.rate)  # fmt: skip
        return default


def _verification(api, core, token: str, *, fresh: bool) -> asyncio.Future:
    """The verification of ``token`` in flight in this app, or a new one in a worker
    thread: concurrent requests with the same key wait for one database read, not one
    each (a key's cache entry expiring under 20 concurrent clients was 20 reads at once).
    A refresh (``fresh``) runs in the background; its failure is logged, and the entry
    expires as it would have."""
    flights: dict[str, asyncio.Future] | None = getattr(api.state, "key_flights", None)
    if flights is None:
        flights = api.state.key_flights = {}
    task = flights.get(token)
    if task is None:
        task = asyncio.ensure_future(run_in_threadpool(core.key_cache.verify, token, fresh=fresh))
        flights[token] = task

        def done(t: asyncio.Future) -> None:
            if flights.get(token) is t:
                del flights[token]
            if not t.cancelled() and t.exception() is not None and fresh:
                log.warning("refreshing an API key failed: %s", t.exception())

        task.add_done_callback(done)
    return task


def require(scope: str):
    """A dependency that returns the caller's :class:`ApiKey` if it holds ``scope``."""

    async def dependency(request: Request) -> ApiKey:  # async: no thread hop on a cache hit
        header = request.headers.get("authorization")
        if not header:
            raise ApiError(
                401, "auth_missing", "send Authorization: Bearer <key>", headers=_CHALLENGE
            )
        kind, _, token = header.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise ApiError(
                401, "auth_invalid", "the Authorization header must be 'Bearer <key>'",
                headers=_CHALLENGE,
            )  # fmt: skip
        token = token.strip()
        core = request.app.state.core
        cache = core.__dict__.get("key_cache")  # built by the first verification
        key, refresh = cache.lookup(token) if cache is not None else (None, False)
        if refresh:  # still valid; re-read in the background before it expires
            _verification(request.app, core, token, fresh=True)
        if key is None:  # a database read (and maybe opening the store): in a thread
            key = await asyncio.shield(_verification(request.app, core, token, fresh=False))
        if key is None:
            raise ApiError(401, "auth_invalid", "unknown or revoked API key", headers=_CHALLENGE)
        limiter = getattr(request.app.state, "limiter", None)
        if limiter is not None:
            decision = limiter.take(key.id, key_rate(key, limiter.default))
            request.state.ratelimit = decision  # the RateLimit-* headers (None: unlimited)
            if decision is not None and not decision.allowed:
                raise ApiError(
                    429, "rate_limited",
                    f"more than {decision.limit} requests per {decision.window_s:g} s with "
                    f"this key; retry after {decision.retry_after_s} s",
                    headers={"Retry-After": str(decision.retry_after_s)},
                )  # fmt: skip
        if not key.allows(scope):
            raise ApiError(403, "auth_scope", f"this key lacks the {scope!r} scope")
        return key

    return dependency
