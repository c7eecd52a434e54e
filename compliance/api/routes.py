"""The routes: intake (/v1/releases), results (/v1/scans), health."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text

from compliance.api import intake
from compliance.api.auth import require
from compliance.api.ern_intake import ErnIntake, ern_text_parts, metadata_mapping
from compliance.api.errors import ApiError
from compliance.api.keys import ApiKey
from compliance.api.metrics import add_phase
from compliance.api.schemas import (
    ErrorResponse,
    ExplainView,
    ReleaseView,
    ScanView,
    SubmitResponse,
    multipart_body,
)
from compliance.api.upload import Upload, read_upload_then
from compliance.domain import ReleaseMetadata
from compliance.errors import error_parts

_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (400, 401, 403, 404, 409, 413, 415, 422, 429, 503)
}
v1 = APIRouter(prefix="/v1", responses=_ERRORS)
health = APIRouter(prefix="/health")

_STRING_FIELDS = ("title", "artist", "account_id", "uploader_tier", "contains_ai")


def parse_metadata(raw: bytes | None) -> dict[str, Any]:
    """The ``metadata`` part as a JSON object, checked; 400 ``metadata_invalid``."""
    if raw is None or not raw.strip():
        return {}
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "metadata_invalid", f"metadata is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "metadata_invalid", "metadata must be a JSON object")
    for name in _STRING_FIELDS:
        if data.get(name) is not None and not isinstance(data[name], str):
            raise ApiError(400, "metadata_invalid", f"metadata {name!r} must be a string")
    try:
        ReleaseMetadata.from_mapping(data)
    except (TypeError, ValueError) as exc:
        raise ApiError(400, "metadata_invalid", str(exc)) from None
    return data


def _core(request: Request):
    return request.app.state.core


_RELEASE_BODY = multipart_body(
    {
        "metadata": "JSON object: title, artist, account_id, licences, contains_ai...",
        "ern": "a DDEX ERN 4.1-4.3.2 NewReleaseMessage listing the files (instead of metadata)",
    },
    files="the release's audio files (WAV, FLAC, MP3, OGG, Opus, AAC/M4A)",
)


@v1.post("/releases", status_code=202, response_model=SubmitResponse, openapi_extra=_RELEASE_BODY)
async def submit_release(request: Request, key: Annotated[ApiKey, Depends(require("submit"))]):
    """Multipart: one or more ``files`` parts (audio) and an optional ``metadata`` part
    (JSON object: title, artist, account_id, licences...) or ``ern`` part (a DDEX ERN
    NewReleaseMessage that lists the files). Every file is stored, then the release and
    one scan per file are recorded in one transaction; 202 with the scan ids to poll."""
    core = _core(request)
    policy = core.__dict__.get("policy")  # loaded at start-up by ``serve``
    if policy is None:  # not yet: loading reads a file, off the event loop
        policy = await run_in_threadpool(lambda: core.policy)
    ern = ErnIntake()
    loop_db = getattr(request.app.state, "reader", None)  # PostgreSQL: on the event loop

    def record(upload: Upload) -> tuple[str, list[intake.NewScan]] | intake.NewReleaseStatement:
        """In the thread that parsed the end of the body (one hop per submission): the
        release recorded, or on PostgreSQL the statement that records it."""
        if ern.message is not None:
            metadata = metadata_mapping(ern.message)
        else:
            metadata = parse_metadata(upload.metadata)
        if loop_db is not None and upload.files:
            return intake.new_release_statement(
                core.store, upload.files, metadata, policy.hash, key.id
            )
        return intake.create_release(
            core.store, files=upload.files, metadata=metadata, policy_hash=policy.hash,
            api_key_id=key.id,
        )  # fmt: skip

    recorded = await read_upload_then(
        request, core.blobs, record, max_file_bytes=core.settings.max_file_bytes,
        check_metadata=parse_metadata, text_parts=ern_text_parts(), hook=ern,
    )  # fmt: skip
    if isinstance(recorded, intake.NewReleaseStatement):
        statement = recorded
        t0 = time.perf_counter()
        inserted = await loop_db.count_rows(statement.sql, statement.params)
        # some of the audio known: a transaction finds its jobs, in a thread
        recorded = statement.recorded(inserted) or await run_in_threadpool(
            intake.settle_release, core.store, statement, inserted
        )
        add_phase(request.scope, "db", time.perf_counter() - t0)
    release_id, scans = recorded
    body = SubmitResponse(
        release_id=release_id,
        scans=[
            {"scan_id": s.scan_id, "file": s.file, "content_hash": s.content_hash,
             "analysis_id": s.analysis_id, "deduplicated": s.deduplicated}
            for s in scans
        ],
        warnings=ern.warnings(),
    )  # fmt: skip
    return JSONResponse(body.model_dump(), status_code=202)


@v1.get("/scans/{scan_id}", response_model=ScanView)
async def get_scan(
    scan_id: str, request: Request, _key: Annotated[ApiKey, Depends(require("read"))]
):
    """State of one scan and, once done, its decision with evidence."""
    core = _core(request)
    reader = getattr(request.app.state, "reader", None)  # PostgreSQL: on the event loop
    policy = core.__dict__.get("policy")  # loaded at start-up by ``serve``
    view = None
    if reader is not None and policy is not None:
        row = await reader.one(intake.scan_sql(core.store.engine.dialect), {"scan_id": scan_id})
        if row is None:
            raise ApiError(404, "scan_not_found", f"no scan {scan_id!r}")
        if not intake.needs_account_evidence(row, policy):
            view = intake.scan_view(row, policy)
    if view is None:  # SQLite, or database writes to make (account evidence): a thread
        view = await run_in_threadpool(lambda: intake.get_scan(core.store, scan_id, core.policy))
    if view is None:
        raise ApiError(404, "scan_not_found", f"no scan {scan_id!r}")
    return view


@v1.get("/scans/{scan_id}/explain", response_model=ExplainView)
def explain_scan(scan_id: str, request: Request, _key: Annotated[ApiKey, Depends(require("read"))]):
    """The candidates the landmark search considered for this scan and why each was kept
    (re-upload or remix, by coverage) or dropped (below the report threshold, disabled
    catalogue entry); 409 while the scan has no decision."""
    core = _core(request)
    view = intake.explain_scan(core.store, scan_id, core.policy)
    if view is None:
        raise ApiError(404, "scan_not_found", f"no scan {scan_id!r}")
    return view


@v1.get("/releases/{release_id}", response_model=ReleaseView)
def get_release(
    release_id: str, request: Request, _key: Annotated[ApiKey, Depends(require("read"))]
):
    """A release with the state of each of its scans."""
    core = _core(request)
    view = intake.get_release(core.store, release_id, core.policy)
    if view is None:
        raise ApiError(404, "release_not_found", f"no release {release_id!r}")
    return view


@health.get("/live")
def live():
    """200 whenever the process answers."""
    return {"status": "live"}


@health.get("/ready")
def ready(request: Request):
    """200 when the database answers and the catalogue index opens, else 503 with why;
    ``warnings`` names what works but is incomplete (a cover index not rebuilt after a
    cover signal change); ``catalogue_generation`` counts how often this process
    (re)opened the index."""
    core = _core(request)
    checks: dict[str, str] = {}
    try:
        with core.store.engine.connect() as conn:
            conn.execute(text("select 1"))
        checks["database"] = "ok"
    except Exception as exc:
        code, msg = error_parts(exc)
        checks["database"] = f"{code}: {msg.splitlines()[0][:200] if msg else ''}"
    warnings: dict[str, str] = {}
    if checks["database"] == "ok":
        try:
            cat = core.catalogue()
            checks["catalogue"] = f"ok ({len(cat)} tracks)"
            if stale := cat.cover_index_warning():
                warnings["cover_index"] = stale
        except Exception as exc:
            code, msg = error_parts(exc)
            checks["catalogue"] = f"{code}: {msg.splitlines()[0][:200] if msg else ''}"
    else:
        checks["catalogue"] = "not checked (no database)"
    ok = all(v.startswith("ok") for v in checks.values())
    return JSONResponse(
        {
            "status": "ready" if ok else "not_ready",
            "checks": checks,
            "warnings": warnings,
            "catalogue_generation": core.catalogue_generation,
        },
        status_code=200 if ok else 503,
    )
