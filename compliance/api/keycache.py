"""API key verification with a short in-process cache (one database read saved per request).

:meth:`KeyStore.verify` reads the key's row on every call. :class:`KeyCache` keeps each
*successful* verification for ``ttl_s`` seconds (default 5, ``COMPLIANCE_KEY_CACHE_S``;
0 turns the cache off), keyed by the token's SHA-256, so a client sending the same token
again within that time is answered from memory.

**Revocation bound.** A key revoked (``compliance keys revoke``, any process) is refused
by every API process at most ``ttl_s`` seconds after the revocation committed: an entry
is never used past ``ttl_s`` after the database read that made it, and that read came
before the revocation or it would have failed. A revocation (or any other change of an
``api_keys`` row) made through the ORM in *this* process drops the key's entries when
it is flushed (a verification racing with it is still bounded by ``ttl_s``).
Failed verifications (unknown, malformed, wrong secret, revoked) are not cached: each of
them still reads the database, so a key created a moment ago works at once.
"""

from __future__ import annotations

import hashlib
import threading
import time
import weakref
from collections.abc import Callable

from sqlalchemy import event

from compliance.api.keys import ApiKey, KeyStore
from compliance.storage.models import ApiKeyRow

DEFAULT_TTL_S = 5.0
MAX_ENTRIES = 10_000

_caches: weakref.WeakSet[KeyCache] = weakref.WeakSet()


class KeyCache:
    """Verified keys of one store, kept ``ttl_s`` seconds (see the module docstring).

    Parameters
    ----------
    store : compliance.storage.Store
    ttl_s : float
        How long a verification is reused; 0 or less: every call reads the database.
    clock : callable
        Monotonic seconds (tests pass a fake clock).
    """

    def __init__(
        self,
        store,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.keys = KeyStore(store)
        self.ttl_s, self.clock, self.max_entries = float(ttl_s), clock, max_entries
        self._entries: dict[str, tuple[ApiKey, float]] = {}  # sha256(token) -> (key, until)
        self._lock = threading.Lock()
        self.reads = 0  # database verifications made (tests, metrics)
        _caches.add(self)

    def cached(self, token: str) -> ApiKey | None:
        """The key of ``token`` if verified less than ``ttl_s`` ago, else None (no I/O:
        the API calls this on the event loop and :meth:`verify` in a thread on a miss)."""
        if self.ttl_s <= 0:
            return None
        digest = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
        with self._lock:
            hit = self._entries.get(digest)
        return hit[0] if hit is not None and self.clock() < hit[1] else None

    def verify(self, token: str) -> ApiKey | None:
        """The active key of ``token`` or None, like :meth:`KeyStore.verify`."""
        if self.ttl_s <= 0:
            self.reads += 1
            return self.keys.verify(token)
        hit = self.cached(token)
        if hit is not None:
            return hit
        digest = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
        now = self.clock()
        self.reads += 1
        key = self.keys.verify(token)  # outside the lock: a database read
        with self._lock:
            if key is None:
                self._entries.pop(digest, None)
            else:
                if len(self._entries) >= self.max_entries:
                    self._evict(now)
                self._entries[digest] = (key, now + self.ttl_s)
        return key

    def _evict(self, now: float) -> None:
        expired = [d for d, (_k, until) in self._entries.items() if until <= now]
        for d in expired:
            del self._entries[d]
        while len(self._entries) >= self.max_entries:  # still full: oldest inserted first
            del self._entries[next(iter(self._entries))]

    def forget(self, key_id: str | None = None) -> None:
        """Drop the entries of ``key_id`` (every entry when None)."""
        with self._lock:
            if key_id is None:
                self._entries.clear()
                return
            for d in [d for d, (k, _u) in self._entries.items() if k.id == key_id]:
                del self._entries[d]


@event.listens_for(ApiKeyRow, "after_update")
@event.listens_for(ApiKeyRow, "after_delete")
def _key_row_changed(_mapper, _connection, target: ApiKeyRow) -> None:
    """A key changed through the ORM in this process: no cache here keeps the old state."""
    for cache in list(_caches):
        cache.forget(target.id)
