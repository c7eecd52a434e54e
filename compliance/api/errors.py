"""Every error answers ``{"error": {"code": "...", "message": "..."}}`` with a stable code.

Client mistakes are 4xx with their own code; FastAPI's request validation errors become
422 ``invalid_request``; an unreachable database is 503 ``database_unavailable``; only a
fault of the service itself is 500 ``internal_error`` (its details go to the log, not to
the client).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from compliance.errors import ComplianceError, error_parts

log = logging.getLogger("compliance.api")


class ApiError(Exception):
    """An answer other than success: HTTP status, stable code, message for people."""

    def __init__(self, status: int, code: str, message: str, *, headers=None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


async def read_reason(request: Request, what: str) -> str:
    """The non-blank ``reason`` of a JSON body ``{"reason": "..."}`` (a disable request),
    stripped; 400 ``request_invalid`` for a body that is not JSON, 400 ``reason_missing``
    without a reason. ``what`` completes "why ... is disabled" in the message."""
    import json

    raw = await request.body()
    try:
        body = json.loads(raw.decode("utf-8")) if raw.strip() else None
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "request_invalid", 'the body must be JSON: {"reason": "..."}') from None
    reason = body.get("reason") if isinstance(body, dict) else None
    if not isinstance(reason, str) or not reason.strip():
        raise ApiError(400, "reason_missing", f'send {{"reason": "why {what} is disabled"}}')
    return reason.strip()


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def _json(status: int, code: str, message: str, headers=None) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
}


def install_error_handlers(api: FastAPI) -> None:
    @api.exception_handler(ApiError)
    async def _api_error(_req: Request, exc: ApiError):
        return _json(exc.status, exc.code, exc.message, exc.headers)

    @api.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError):
        parts = []
        for e in exc.errors()[:5]:
            where = ".".join(str(x) for x in e.get("loc", ()))
            parts.append(f"{where}: {e.get('msg', 'invalid')}")
        return _json(422, "invalid_request", "; ".join(parts) or "invalid request")

    @api.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException):
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return _json(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @api.exception_handler(OperationalError)
    async def _db(_req: Request, exc: OperationalError):
        log.error("database error: %s", exc)
        return _json(503, "database_unavailable", "the database is not reachable; retry later")

    @api.exception_handler(ComplianceError)
    async def _service(_req: Request, exc: ComplianceError):
        code, message = error_parts(exc)
        if code in ("database_unavailable", "config_invalid", "policy_invalid"):
            return _json(503, code, message)
        return _json(400, code, message)

    @api.exception_handler(Exception)
    async def _internal(_req: Request, exc: Exception):
        log.exception("unhandled error")
        return _json(500, "internal_error", "internal error (logged)")
