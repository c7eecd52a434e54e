"""Per-API-key rate limits: a token bucket per key, in this process's memory.

Each key has a bucket of ``limit`` tokens refilled at ``limit`` per ``period`` (for
``10/s``: bursts of up to 10 requests, 10 per second sustained). Every authenticated /v1
request takes one token; with none left the answer is 429 ``rate_limited`` with
``Retry-After``. Every authenticated /v1 answer carries the IETF draft headers
``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset`` (seconds until the
bucket is full again) and ``RateLimit-Policy`` (``<limit>;w=<window seconds>``).

The buckets live in the API process: **each API process enforces its own limit** (with N
replicas behind a load balancer a key gets up to N times the limit). The limit is the
same for every key (``COMPLIANCE_RATE_LIMIT``); the api_keys table has no column for a
per-key rate yet.
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


class RateLimiter:
    """Token buckets by key id.

    Parameters
    ----------
    limit : int
        Bucket size and tokens per ``period_s``.
    period_s : float
    clock : callable
        Monotonic seconds (tests pass a fake clock).
    """

    def __init__(
        self, limit: int, period_s: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if limit < 1 or period_s <= 0:
            raise ValueError("a rate limit needs limit >= 1 and a positive period")
        self.limit, self.period_s, self.clock = int(limit), float(period_s), clock
        self.rate = self.limit / self.period_s  # tokens per second
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> RateDecision:
        """Take one token from ``key``'s bucket if there is one."""
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.get(key, (float(self.limit), now))
            tokens = min(float(self.limit), tokens + (now - at) * self.rate)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[key] = (tokens, now)
        missing = self.limit - tokens
        return RateDecision(
            allowed=allowed,
            limit=self.limit,
            remaining=math.floor(tokens),
            reset_s=max(0, math.ceil(missing / self.rate - 1e-9)),
            retry_after_s=0 if allowed else max(1, math.ceil((1.0 - tokens) / self.rate)),
            window_s=self.period_s,
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
