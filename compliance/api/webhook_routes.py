"""``/v1/webhooks``: register, list and delete webhooks, read their delivery log.

Scope ``submit`` (``admin`` implies it). A webhook belongs to the key that registered it
and is notified of the scans of releases that key submitted; every route sees only the
caller's own webhooks (another key's webhook id answers 404, admin keys included).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from compliance.api.auth import require
from compliance.api.errors import ApiError
from compliance.api.keys import ApiKey
from compliance.api.schemas import ErrorResponse
from compliance.webhooks import EVENTS, WebhookError, WebhookStore

hooks = APIRouter(
    prefix="/v1/webhooks",
    tags=["webhooks"],
    responses={s: {"model": ErrorResponse} for s in (400, 401, 403, 404, 422, 503)},
)


class WebhookCreate(BaseModel):
    url: str = Field(
        description="http or https URL, at most 2048 characters",
        # documented for clients; checked by the route (400 webhook_url_invalid)
        json_schema_extra={"format": "uri", "maxLength": 2048, "pattern": r"^https?://\S+$"},
    )
    secret: str | None = Field(
        default=None,
        description="16-256 characters; generated (and shown once) when omitted",
        json_schema_extra={"minLength": 16, "maxLength": 256},  # 400 webhook_secret_invalid
    )
    events: list[str] = Field(
        default_factory=lambda: list(EVENTS),
        # documented; checked by the route (400 webhook_events_invalid)
        json_schema_extra={"minItems": 1, "items": {"type": "string", "enum": list(EVENTS)}},
    )


class WebhookView(BaseModel):
    id: str
    url: str
    events: list[str]
    created_at: str


class WebhookCreated(WebhookView):
    secret: str = Field(description="signs every delivery; shown only in this answer")


class DeliveryAttempt(BaseModel):
    attempt: int
    at: str
    duration_ms: float
    status_code: int | None
    error: str | None


class DeliveryView(BaseModel):
    delivery_id: str = Field(description="the Webhook-Id header, the same on every retry")
    event: str
    scan_id: str
    created_at: str
    state: str = Field(description="pending | delivered | failed")
    attempts: list[DeliveryAttempt]
    max_attempts: int
    next_attempt_at: str | None
    last_error: str | None


def _store(request: Request) -> WebhookStore:
    return WebhookStore(request.app.state.core.store)


def _bad(exc: WebhookError) -> ApiError:
    return ApiError(400, exc.code, str(exc))


@hooks.post("", status_code=201, response_model=WebhookCreated)
async def create_webhook(
    body: WebhookCreate, request: Request, key: Annotated[ApiKey, Depends(require("submit"))]
) -> dict[str, Any]:
    """Register a webhook for this key's scans; the answer shows the secret once."""
    try:
        return await run_in_threadpool(
            _store(request).create, key.id, body.url, secret=body.secret, events=body.events
        )
    except WebhookError as exc:
        raise _bad(exc) from None


@hooks.get("", response_model=list[WebhookView])
def list_webhooks(request: Request, key: Annotated[ApiKey, Depends(require("submit"))]):
    """This key's webhooks (never their secrets)."""
    return _store(request).list(key.id)


@hooks.delete("/{webhook_id}", status_code=204)
def delete_webhook(
    webhook_id: str, request: Request, key: Annotated[ApiKey, Depends(require("submit"))]
):
    """Stop notifying it; deliveries not yet made are dropped, the log stays readable."""
    if not _store(request).delete(key.id, webhook_id):
        raise ApiError(404, "webhook_not_found", f"no webhook {webhook_id!r}")
    return Response(status_code=204)


@hooks.get("/{webhook_id}/deliveries", response_model=list[DeliveryView])
def list_deliveries(
    webhook_id: str, request: Request, key: Annotated[ApiKey, Depends(require("submit"))]
):
    """The last 100 deliveries, newest first, with every attempt and the next retry."""
    out = _store(request).deliveries(key.id, webhook_id)
    if out is None:
        raise ApiError(404, "webhook_not_found", f"no webhook {webhook_id!r}")
    return out
