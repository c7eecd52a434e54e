"""API keys: ``rcc_<id>_<secret>``; the database keeps the id and the secret's SHA-256.

The secret is 32 random bytes, so a plain SHA-256 is enough (a slow password hash
protects low-entropy secrets, which these are not). Verification looks the key up by
its id and compares digests in constant time. ``admin`` implies every other scope.

A key may carry its own rate limit (``rate``: ``"10/s"``, ``"600/min"``, ``"off"``;
None = the process's ``COMPLIANCE_RATE_LIMIT``), stored canonical and read with the key
on every verification (see :mod:`compliance.api.ratelimit`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from compliance.errors import ComplianceError
from compliance.settings import format_rate, parse_rate
from compliance.storage.models import ApiKeyRow
from compliance.storage.types import utcnow

PREFIX = "rcc"
SCOPES = ("submit", "read", "admin")


class ApiKeyError(ComplianceError):
    code = "key_invalid"


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None
    #: The key's own rate as stored (canonical ``parse_rate`` text); None = the default.
    rate: str | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def _key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        row.id, row.name, tuple(row.scopes), row.created_at, row.revoked_at, row.rate_limit
    )


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_scopes(text: str) -> tuple[str, ...]:
    """``"submit,read"`` -> ``("submit", "read")``; unknown scopes are refused."""
    scopes = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise ApiKeyError(
            f"scopes must be a comma-separated subset of {','.join(SCOPES)}; got {text!r}",
            code="key_scope_invalid",
        )
    return scopes


def normalize_rate(text: str | None) -> str | None:
    """A key's rate as stored: ``" 10/SEC "`` -> ``"10/s"``, ``"unlimited"`` -> ``"off"``;
    None or ``"default"`` -> None (the process default). ``key_rate_invalid`` otherwise."""
    if text is None or text.strip().lower() == "default":
        return None
    try:
        return format_rate(parse_rate(text))
    except ValueError as exc:
        raise ApiKeyError(str(exc), code="key_rate_invalid") from None


class KeyStore:
    """API keys of one store."""

    def __init__(self, store) -> None:
        self.store = store

    def create(
        self, name: str, scopes: tuple[str, ...], rate: str | None = None
    ) -> tuple[ApiKey, str]:
        """A new key; returns it and the full token (shown once, never stored).

        ``rate`` is the key's own rate limit (``"10/s"``, ``"off"``...; None = default)."""
        if not name.strip():
            raise ApiKeyError("a key needs a name", code="key_name_missing")
        rate = normalize_rate(rate)
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        row = ApiKeyRow(
            id=key_id, name=name.strip(), scopes=list(scopes), secret_sha256=_digest(secret),
            created_at=utcnow(), rate_limit=rate,
        )  # fmt: skip
        with self.store.session() as s, s.begin():
            s.add(row)
        return _key(row), f"{PREFIX}_{key_id}_{secret}"

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke (idempotent: the first revocation time stays); ``key_not_found``."""
        with self.store.session() as s, s.begin():
            row = s.get(ApiKeyRow, key_id)
            if row is None:
                raise ApiKeyError(f"no API key {key_id!r}", code="key_not_found")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            return _key(row)

    def set_rate(self, key_id: str, rate: str | None) -> ApiKey:
        """Set a key's own rate (``"10/s"``, ``"off"``; None or ``"default"`` = the process
        default). Running API processes apply it from the key's next request.
        ``key_rate_invalid``, ``key_not_found``."""
        rate = normalize_rate(rate)
        with self.store.session() as s, s.begin():
            row = s.get(ApiKeyRow, key_id)
            if row is None:
                raise ApiKeyError(f"no API key {key_id!r}", code="key_not_found")
            row.rate_limit = rate
            return _key(row)

    def list(self) -> list[ApiKey]:
        with self.store.session() as s:
            return [_key(r) for r in s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at))]

    def verify(self, token: str) -> ApiKey | None:
        """The active key of ``token``, or None (malformed, unknown, wrong secret, revoked)."""
        prefix, _, rest = token.partition("_")
        key_id, _, secret = rest.partition("_")
        if prefix != PREFIX or not key_id or not secret or len(token) > 200:
            return None
        with self.store.session() as s:
            row = s.get(ApiKeyRow, key_id)
            if row is None or not hmac.compare_digest(row.secret_sha256, _digest(secret)):
                return None
            key = _key(row)
        return None if key.revoked else key
