"""Signed webhooks: a client's URLs are told when each of its scans completes.

A webhook belongs to the API key that registered it. When a scan job ends (``done``, or
``failed`` for good), :func:`scan_job_finished` runs *inside the transaction that ends
the job* (the queue's ``on_finish`` hook) and adds, for every scan (release file) that
points at the job and every live webhook of the key that submitted that release, a
delivery row and a ``webhook`` job. Either the job ends with its notifications queued,
or neither happens: a crash never loses a notification. A submission deduplicated onto
a job that already ended gets its notification the same way, in its own transaction
(:func:`notify_if_finished_in`).

The :class:`WebhookWorker` claims ``webhook`` jobs and POSTs the event::

    {"event": "scan.completed", "scan_id", "release_id", "state",
     "result": <the GET /v1/scans/{scan_id} object>}

with ``Webhook-Id`` (the delivery id, the same on every retry), ``Webhook-Timestamp``
(unix seconds of this attempt) and ``Webhook-Signature: v1=<hex HMAC-SHA256 of
f"{timestamp}.{body}" keyed with the secret>``. The body is fixed at the first attempt.
A 2xx answer ends the delivery; anything else (non-2xx, redirect, timeout, refused
connection) is logged as an attempt and retried with exponential backoff up to the
job's attempts, then the delivery is ``failed``. Secrets are stored in the clear: they
are needed to sign.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from compliance.errors import ComplianceError
from compliance.jobs.queue import DONE, FAILED, QUEUED, Job, JobQueue, LeaseLost
from compliance.settings import PREFIX, _float, _int
from compliance.storage.models import (
    ApiKeyRow,
    JobRow,
    ReleaseFileRow,
    ReleaseRow,
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookRow,
)
from compliance.storage.types import utcnow

log = logging.getLogger("compliance.webhooks")

WEBHOOK_JOB = "webhook"
SCAN_JOB = "scan"
EVENTS = ("scan.completed",)
MAX_URL_LENGTH = 2048
MAX_WEBHOOKS_PER_KEY = 10
SECRET_PREFIX = "whsec_"


class WebhookError(ComplianceError):
    code = "webhook_invalid"


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """Delivery settings (environment ``COMPLIANCE_WEBHOOK_*``).

    Attributes
    ----------
    timeout_s : float
        Per-attempt HTTP timeout (``COMPLIANCE_WEBHOOK_TIMEOUT_S``, default 5).
    max_attempts : int
        Attempts per delivery before it is failed (``COMPLIANCE_WEBHOOK_MAX_ATTEMPTS``,
        default 6).
    backoff_s : float
        Wait after the first failed attempt, doubled after each further one
        (``COMPLIANCE_WEBHOOK_BACKOFF_S``, default 10: 10, 20, 40, 80, 160 s).
    """

    timeout_s: float = 5.0
    max_attempts: int = 6
    backoff_s: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WebhookConfig:
        env = os.environ if environ is None else environ
        return cls(
            timeout_s=_float(env, f"{PREFIX}WEBHOOK_TIMEOUT_S", 5.0),
            max_attempts=_int(env, f"{PREFIX}WEBHOOK_MAX_ATTEMPTS", 6),
            backoff_s=_float(env, f"{PREFIX}WEBHOOK_BACKOFF_S", 10.0),
        )


# ------------------------------------------------------------------ registration
def check_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL with a host, at most 2048 characters;
    else :class:`WebhookError` ``webhook_url_invalid``."""
    if not isinstance(url, str) or not url.strip():
        raise WebhookError("url is required", code="webhook_url_invalid")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise WebhookError(
            f"url is longer than {MAX_URL_LENGTH} characters", code="webhook_url_invalid"
        )
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise WebhookError("url contains whitespace or control characters",
                           code="webhook_url_invalid")  # fmt: skip
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a malformed port
    except ValueError as exc:
        raise WebhookError(f"url is malformed: {exc}", code="webhook_url_invalid") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise WebhookError("url must use http or https", code="webhook_url_invalid")
    if not parts.hostname:
        raise WebhookError("url has no host", code="webhook_url_invalid")
    if parts.username or parts.password:
        raise WebhookError("url must not carry credentials", code="webhook_url_invalid")
    del port
    return url


def _row_view(row: WebhookRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "url": row.url,
        "events": list(row.events),
        "created_at": row.created_at.isoformat(),
    }


class WebhookStore:
    """Webhooks of one store, always seen through the key that owns them."""

    def __init__(self, store) -> None:
        self.store = store

    def create(
        self, api_key_id: str, url: str, *, secret: str | None = None,
        events: list[str] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Register; the answer carries the secret (the only time it is shown)."""
        url = check_url(url)
        events = list(dict.fromkeys(events if events is not None else EVENTS))
        bad = [e for e in events if e not in EVENTS]
        if bad or not events:
            raise WebhookError(
                f"events must be a non-empty subset of {list(EVENTS)}; got {events!r}",
                code="webhook_events_invalid",
            )
        if secret is None:
            secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        elif not isinstance(secret, str) or not 16 <= len(secret) <= 256:
            raise WebhookError("secret must be 16 to 256 characters",
                               code="webhook_secret_invalid")  # fmt: skip
        with self.store.session() as s, s.begin():
            live = s.scalars(
                select(WebhookRow.id).where(
                    WebhookRow.api_key_id == api_key_id, WebhookRow.deleted_at.is_(None)
                )
            ).all()
            if len(live) >= MAX_WEBHOOKS_PER_KEY:
                raise WebhookError(f"a key can have at most {MAX_WEBHOOKS_PER_KEY} webhooks",
                                   code="webhook_limit")  # fmt: skip
            row = WebhookRow(
                id=str(uuid.uuid4()), api_key_id=api_key_id, url=url, secret=secret,
                events=events, created_at=utcnow(),
            )  # fmt: skip
            s.add(row)
            s.flush()
            return {**_row_view(row), "secret": secret}

    def list(self, api_key_id: str) -> list[dict[str, Any]]:
        with self.store.session() as s:
            rows = s.scalars(
                select(WebhookRow)
                .where(WebhookRow.api_key_id == api_key_id, WebhookRow.deleted_at.is_(None))
                .order_by(WebhookRow.created_at)
            ).all()
            return [_row_view(r) for r in rows]

    def _own(self, s, api_key_id: str, webhook_id: str) -> WebhookRow | None:
        row = s.get(WebhookRow, webhook_id)
        if row is None or row.api_key_id != api_key_id or row.deleted_at is not None:
            return None
        return row

    def delete(self, api_key_id: str, webhook_id: str) -> bool:
        """Stop delivering to it (pending deliveries are dropped); False if not found."""
        with self.store.session() as s, s.begin():
            row = self._own(s, api_key_id, webhook_id)
            if row is None:
                return False
            row.deleted_at = utcnow()
            return True

    def deliveries(
        self, api_key_id: str, webhook_id: str, *, limit: int = 100
    ) -> list[dict[str, Any]] | None:
        """The delivery log, newest first; None if the webhook is not the caller's."""
        with self.store.session() as s:
            if self._own(s, api_key_id, webhook_id) is None:
                return None
            rows = s.execute(
                select(WebhookDeliveryRow, JobRow)
                .join(JobRow, JobRow.id == WebhookDeliveryRow.job_id)
                .where(WebhookDeliveryRow.webhook_id == webhook_id)
                .order_by(WebhookDeliveryRow.created_at.desc())
                .limit(limit)
            ).all()
            ids = [d.id for d, _ in rows]
            attempts: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
            if ids:
                for a in s.scalars(
                    select(WebhookAttemptRow)
                    .where(WebhookAttemptRow.delivery_id.in_(ids))
                    .order_by(WebhookAttemptRow.attempt)
                ):
                    attempts[a.delivery_id].append({
                        "attempt": a.attempt, "at": a.started_at.isoformat(),
                        "duration_ms": round(a.duration_ms, 1), "status_code": a.status_code,
                        "error": a.error,
                    })  # fmt: skip
            out = []
            for d, job in rows:
                state = "pending" if job.state in (QUEUED, "running") else job.state
                state = {"done": "delivered"}.get(state, state)
                out.append({
                    "delivery_id": d.id, "event": d.event, "scan_id": d.scan_id,
                    "created_at": d.created_at.isoformat(), "state": state,
                    "attempts": attempts[d.id], "max_attempts": job.max_attempts,
                    "next_attempt_at": job.available_at.isoformat()
                    if job.state == QUEUED else None,
                    "last_error": job.last_error if job.state != DONE else None,
                })  # fmt: skip
            return out


# ------------------------------------------------------------------ enqueue (same transaction)
def _enqueue_deliveries(s, refs: list[ReleaseFileRow], max_attempts: int) -> int:
    """A delivery row and a ``webhook`` job for every (scan, live webhook of its client)."""
    if not refs:
        return 0
    s.flush()  # the scans' rows exist before deliveries refer to them
    release_ids = {r.release_id for r in refs}
    owners = dict(
        s.execute(
            select(ReleaseRow.id, ReleaseRow.api_key_id).where(ReleaseRow.id.in_(release_ids))
        ).all()
    )
    key_ids = {k for k in owners.values() if k is not None}
    if not key_ids:
        return 0
    hooks = s.scalars(
        select(WebhookRow)
        .join(ApiKeyRow, ApiKeyRow.id == WebhookRow.api_key_id)
        .where(
            WebhookRow.api_key_id.in_(key_ids),
            WebhookRow.deleted_at.is_(None),
            ApiKeyRow.revoked_at.is_(None),
        )
    ).all()
    by_key: dict[str, list[WebhookRow]] = {}
    for h in hooks:
        if "scan.completed" in (h.events or []):
            by_key.setdefault(h.api_key_id, []).append(h)
    n = 0
    now = utcnow()
    for ref in refs:
        for hook in by_key.get(owners.get(ref.release_id) or "", []):
            delivery_id = str(uuid.uuid4())
            job_id, _ = JobQueue.enqueue_in(
                s, WEBHOOK_JOB, {"delivery_id": delivery_id}, max_attempts=max_attempts
            )
            s.add(
                WebhookDeliveryRow(
                    id=delivery_id, webhook_id=hook.id, job_id=job_id, event="scan.completed",
                    scan_id=ref.id, created_at=now,
                )
            )  # fmt: skip
            n += 1
    if n:
        s.flush()
    return n


def scan_job_finished(s, row: JobRow) -> None:
    """The queue's ``on_finish`` hook: a scan job ended; notify every scan pointing at it."""
    if row.kind != SCAN_JOB or row.state not in (DONE, FAILED):
        return
    refs = list(s.scalars(select(ReleaseFileRow).where(ReleaseFileRow.job_id == row.id)))
    _enqueue_deliveries(s, refs, WebhookConfig.from_env().max_attempts)


def notify_if_finished_in(s, job_id: str, scan_id: str) -> None:
    """A new scan was pointed at an existing job: if that job has already ended, queue
    the scan's notifications now (in the caller's transaction).

    No race with a worker ending the job at the same moment: the scan's row is flushed
    first, and on PostgreSQL its foreign key takes a KEY SHARE lock on the job row,
    which the worker's ``FOR UPDATE`` waits for (the worker then sees this scan), or
    which waits for the worker's commit (this read then sees the job ended). SQLite
    serialises writers. (No ``FOR UPDATE`` here: upgrading from KEY SHARE would
    deadlock concurrent submissions of the same audio.)"""
    s.flush()
    state = s.execute(select(JobRow.state).where(JobRow.id == job_id)).scalar_one_or_none()
    if state not in (DONE, FAILED):
        return
    ref = s.get(ReleaseFileRow, scan_id)
    if ref is not None:
        _enqueue_deliveries(s, [ref], WebhookConfig.from_env().max_attempts)


# ------------------------------------------------------------------ signing and delivery
def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Webhook-Signature`` value: ``v1=`` + hex HMAC-SHA256 of ``f"{ts}.{body}"``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, tolerance_s: int = 300) -> bool:
    """What a receiver does: recompute the signature and check the timestamp is recent."""
    try:
        ts = int(headers["Webhook-Timestamp"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - ts) > tolerance_s:
        return False
    given = headers.get("Webhook-Signature", "")
    return hmac.compare_digest(given, sign(secret, ts, body))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a 3xx is an answer, not followed
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def post(
    url: str, body: bytes, headers: dict[str, str], timeout_s: float
) -> tuple[int | None, str | None]:
    """POST once: ``(status, None)`` for any HTTP answer, ``(None, error)`` otherwise."""
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with _OPENER.open(req, timeout=timeout_s) as resp:
            resp.read(1024)
            return resp.status, None
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code, None
    except urllib.error.URLError as exc:
        return None, f"{type(exc.reason).__name__}: {exc.reason}"[:500]
    except TimeoutError:
        return None, f"timeout after {timeout_s:g} s"
    except (OSError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]


class WebhookWorker:
    """Delivers ``webhook`` jobs of one :class:`~compliance.app.App`."""

    def __init__(
        self, app, *, config: WebhookConfig | None = None, worker_id: str | None = None,
        poll_s: float = 1.0,
    ) -> None:  # fmt: skip
        self.app = app
        self.config = config or WebhookConfig.from_env()
        self.queue = JobQueue(app.store, on_finish=scan_job_finished)
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}:wh"
        self.poll_s = poll_s
        self.lease_s = max(30.0, 3 * self.config.timeout_s)

    def _body(self, delivery: WebhookDeliveryRow) -> str | None:
        """The event body, fixed at the first attempt; None when the scan is no longer
        ended (a later submission queued it again: its next end notifies again)."""
        if delivery.body is not None:
            return delivery.body
        from compliance.api.intake import get_scan

        view = get_scan(self.app.store, delivery.scan_id, self.app.policy)
        if view is None or view["state"] not in (DONE, FAILED):
            return None
        event = {
            "event": delivery.event,
            "scan_id": view["scan_id"],
            "release_id": view["release_id"],
            "state": view["state"],
            "result": view,
        }
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        with self.app.store.session() as s, s.begin():
            row = s.get(WebhookDeliveryRow, delivery.id)
            if row.body is None:
                row.body = body
            return row.body

    def run_once(self) -> Job | None:
        """Claim one delivery job and make one attempt; returns the job as it ended."""
        job = self.queue.claim(self.id, lease_s=self.lease_s, kinds=[WEBHOOK_JOB])
        if job is None:
            return None
        try:
            return self._deliver(job)
        except LeaseLost:
            log.warning("delivery job %s was taken over; attempt dropped", job.id)
            return self.queue.get(job.id)
        except Exception as exc:
            log.exception("delivery job %s failed", job.id)
            error = f"internal_error: {type(exc).__name__}: {exc}"
            self.queue.fail(job.id, self.id, error, retry_in_s=self.config.backoff_s)
            return self.queue.get(job.id)

    def _deliver(self, job: Job) -> Job | None:
        delivery_id = job.payload.get("delivery_id")
        with self.app.store.session() as s:
            delivery = s.get(WebhookDeliveryRow, delivery_id)
            hook = s.get(WebhookRow, delivery.webhook_id) if delivery else None
            if delivery is not None:
                s.expunge(delivery)
            url, secret = (hook.url, hook.secret) if hook else (None, None)
            deleted = hook is None or hook.deleted_at is not None
        if delivery is None or deleted:
            self.queue.complete(job.id, self.id, {"skipped": "webhook deleted"})
            return self.queue.get(job.id)
        body = self._body(delivery)
        if body is None:
            self.queue.complete(job.id, self.id, {"skipped": "scan queued again"})
            return self.queue.get(job.id)
        data = body.encode("utf-8")
        ts = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "release-compliance-checker-webhooks/0.1",
            "Webhook-Id": delivery.id,
            "Webhook-Timestamp": str(ts),
            "Webhook-Signature": sign(secret, ts, data),
        }
        started, t0 = utcnow(), time.monotonic()
        status, error = post(url, data, headers, self.config.timeout_s)
        ms = (time.monotonic() - t0) * 1000.0
        if status is not None and not 200 <= status < 300:
            error = f"HTTP {status}"
        with self.app.store.session() as s, s.begin():
            s.add(
                WebhookAttemptRow(
                    id=str(uuid.uuid4()), delivery_id=delivery.id, attempt=job.attempts,
                    started_at=started, duration_ms=ms, status_code=status, error=error,
                )
            )  # fmt: skip
        if error is None:
            self.queue.complete(job.id, self.id, {"status_code": status, "attempts": job.attempts})
        else:
            self.queue.fail(job.id, self.id, error, retry_in_s=self.config.backoff_s)
        return self.queue.get(job.id)

    def run_forever(self, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        log.info("webhook worker %s started", self.id)
        while not stop.is_set():
            try:
                job = self.run_once()
            except Exception:
                log.exception("webhook worker %s: claim failed", self.id)
                job = None
            if job is None:
                stop.wait(self.poll_s)
        log.info("webhook worker %s stopped", self.id)
