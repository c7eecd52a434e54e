"""Per-API-key rate limits: a token bucket per key, in this process's memory.

Each key has a bucket of ``limit`` tokens refilled at ``limit`` per ``period`` (for
``10/s``: bursts of up to 10 requests, 10 per second sustained). Every authenticated /v1
request takes one token; with none left the answer is 429 ``rate_limited`` with
``Retry-After``. Every authenticated /v1 answer carries the IETF draft headers
``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset`` (seconds until the
bucket is full again) and ``RateLimit-Policy`` (``<limit>;w=<window seconds>``).

**Which rate:** a key's own rate (``api_keys.rate_limit``: ``compliance keys create
--rate`` / ``keys set-rate``) or, when it has none (NULL), the process default
``COMPLIANCE_RATE_LIMIT``. ``off`` (the key's or the default) means unlimited: no bucket,
no 429 and no RateLimit-* headers. The key's row is already read on every request to
verify its secret (:meth:`compliance.api.keys.KeyStore.verify`), and its rate comes with
that same read, so a changed rate applies from the key's next request, in every API
process, with no extra database round trip and no restart. A bucket whose rate changed
keeps its tokens (at most the new bucket size) and refills at the new rate from then on.

The buckets live in the API process: **each API process enforces its own limit** (with N
replicas behind a load balancer a key gets up to N times the limit).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from compliance.settings import parse_rate

__all__ = ["RateDecision", "RateLimitHeaders", "RateLimiter", "parse_rate"]


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: int
    retry_after_s: int
    window_s: float

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
            "RateLimit-Policy": f"{self.limit};w={self.window_s:g}",
        }


_DEFAULT = object()


class RateLimiter:
    """Token buckets by key id, each at the rate its caller gives (or the default).

    Parameters
    ----------
    limit : int or None
        Default bucket size and tokens per ``period_s``, for keys without their own rate;
        None: such keys are unlimited.
    period_s : float
    clock : callable
        Monotonic seconds (tests pass a fake clock).
    """

    def __init__(
        self,
        limit: int | None = None,
        period_s: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.default = None if limit is None else self._check((limit, period_s))
        self.clock = clock
        # key -> (tokens, at, limit, period_s)
        self._buckets: dict[str, tuple[float, float, int, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _check(rate: tuple[int, float]) -> tuple[int, float]:
        limit, period_s = rate
        if limit < 1 or period_s <= 0:
            raise ValueError("a rate limit needs limit >= 1 and a positive period")
        return int(limit), float(period_s)

    def take(self, key: str, rate: tuple[int, float] | None = _DEFAULT) -> RateDecision | None:
        """Take one token from ``key``'s bucket if there is one.

        ``rate`` is the key's own ``(limit, period_s)``, None for unlimited, or omitted
        for the default. Returns None when the key is unlimited (no headers either)."""
        rate = self.default if rate is _DEFAULT else rate
        if rate is None:
            with self._lock:
                self._buckets.pop(key, None)  # a later limit starts with a full bucket
            return None
        limit, period_s = self._check(rate)
        per_s = limit / period_s  # tokens per second
        with self._lock:
            now = self.clock()
            tokens, at, _, _ = self._buckets.get(key, (float(limit), now, limit, period_s))
            tokens = min(float(limit), tokens + (now - at) * per_s)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[key] = (tokens, now, limit, period_s)
        missing = limit - tokens
        return RateDecision(
            allowed=allowed,
            limit=limit,
            remaining=math.floor(tokens),
            reset_s=max(0, math.ceil(missing / per_s - 1e-9)),
            retry_after_s=0 if allowed else max(1, math.ceil((1.0 - tokens) / per_s)),
            window_s=period_s,
        )


class RateLimitHeaders:
    """Pure ASGI middleware: adds the RateLimit-* headers the auth dependency decided
    (``scope["state"]["ratelimit"]``) to the answer, errors included."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        state = scope.setdefault("state", {})

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                decision = state.get("ratelimit")
                if decision is not None:
                    present = {k.lower() for k, _ in message.get("headers", [])}
                    extra = [
                        (k.lower().encode(), v.encode())
                        for k, v in decision.headers().items()
                        if k.lower().encode() not in present
                    ]
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
