"""Catalogue management over the API (scope ``admin``).

``POST /v1/catalogue/tracks`` ingests uploaded files synchronously through
:func:`compliance.pipeline.ingest.ingest` (the function behind ``compliance catalogue
add``): each file is streamed into the blob store, then fingerprinted and committed in
batches; the answer lists what happened to each file (``added``, ``skipped``, ``failed``
with a code). The index view of this process is reopened at once; other processes
(workers) reopen theirs on their next scan, when they see the store's segment list
changed (:meth:`compliance.app.App.catalogue`).
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from compliance.api.auth import require
from compliance.api.errors import ApiError, read_reason
from compliance.api.keys import ApiKey
from compliance.api.schemas import (
    CatalogueIngestResponse,
    CataloguePage,
    CatalogueTrackView,
    ErrorResponse,
    multipart_body,
    reason_body,
)
from compliance.api.upload import StoredFile, read_upload

MAX_MANIFEST_BYTES = 1 << 20
MAX_INGEST_FILES = 1000
_MANIFEST_FIELDS = ("file", "id", "title", "artist")

router = APIRouter(
    prefix="/v1/catalogue",
    responses={s: {"model": ErrorResponse} for s in (400, 401, 403, 404, 413, 415, 422, 503)},
)
# One ingest at a time per process: ingest() compacts the index at its end, and two
# compactions of the same segments would conflict. (Across processes, as for the CLI, a
# conflicting compaction fails with catalogue_conflict after the tracks were committed.)
_INGEST_LOCK = threading.Lock()


def track_view(t) -> dict[str, Any]:
    return {
        "id": t.id,
        "title": t.title,
        "artist": t.artist,
        "content_hash": t.content_hash,
        "duration_s": t.duration_s,
        "added_at": t.added_at.isoformat() if t.added_at else None,
        "added_by": t.added_by,
        "disabled": t.disabled,
        "disabled_reason": t.disabled_reason,
        "disabled_at": t.disabled_at.isoformat() if t.disabled_at else None,
    }


def parse_manifest(raw: bytes | None, files: list[StoredFile]) -> dict[str, dict[str, Any]]:
    """The ``manifest`` part: a JSON list of ``{file, id, title, artist}`` (``file`` is the
    uploaded file name; ``id`` defaults to its stem). 400 ``manifest_invalid``."""
    if raw is None or not raw.strip():
        return {}

    def bad(msg: str) -> ApiError:
        return ApiError(400, "manifest_invalid", msg)

    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad(f"manifest is not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise bad("manifest must be a JSON list of {file, id, title, artist} objects")
    names = {f.name for f in files}
    out: dict[str, dict[str, Any]] = {}
    for n, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise bad(f"manifest entry {n} is not an object")
        unknown = sorted(set(entry) - set(_MANIFEST_FIELDS))
        if unknown:
            raise bad(f"manifest entry {n} has unknown fields: {', '.join(unknown)}")
        for k in _MANIFEST_FIELDS:
            if entry.get(k) is not None and not isinstance(entry[k], str):
                raise bad(f"manifest entry {n}: {k!r} must be a string")
        name = entry.get("file")
        if not name:
            raise bad(f"manifest entry {n} has no 'file'")
        if name not in names:
            raise bad(f"manifest entry {n} names {name!r}, which was not uploaded")
        if name in out:
            raise bad(f"manifest names {name!r} twice")
        if entry.get("id") is not None and not entry["id"].strip():
            raise bad(f"manifest entry {n}: empty 'id'")
        out[name] = entry
    return out


def _ingest(core, files: list[StoredFile], manifest: dict[str, dict], added_by: str) -> dict:
    from compliance.pipeline.ingest import IngestItem

    items: list[IngestItem] = []
    for f in files:
        entry = manifest.get(f.name, {})
        cid = (entry.get("id") or PurePath(f.name).stem or f.name).strip()
        items.append(IngestItem(core.blobs.path(f.address), cid, entry.get("title"),
                                entry.get("artist")))  # fmt: skip
    outcomes: list[tuple[IngestItem, str]] = []
    with _INGEST_LOCK:
        report = core.ingest(
            items, added_by=added_by,
            progress=lambda item, outcome: outcomes.append((item, outcome)),
        )  # fmt: skip
    by_item = {id(it): n for n, it in enumerate(items)}
    results: list[dict[str, Any]] = [{} for _ in items]
    skipped, failed = iter(report.skipped), iter(report.failed)
    for item, outcome in outcomes:
        n = by_item[id(item)]
        row: dict[str, Any] = {"file": files[n].name, "id": item.catalogue_id,
                               "outcome": outcome, "code": None, "message": None}  # fmt: skip
        if outcome in ("skipped", "failed"):
            _path, code, message = next(skipped if outcome == "skipped" else failed)
            row["code"] = code
            row["message"] = message.replace(str(item.path), files[n].name)
        results[n] = row
    generation = core.catalogue_generation
    try:
        core.catalogue()  # reopen this process's view now
        generation = core.catalogue_generation
    except Exception:  # the readiness probe reports a broken index; the ingest did happen
        pass
    return {
        "added": len(report.added),
        "skipped": len(report.skipped),
        "failed": len(report.failed),
        "results": results,
        "catalogue_tracks": core.store.count_tracks(),
        "catalogue_generation": generation,
    }


@router.post(
    "/tracks",
    response_model=CatalogueIngestResponse,
    openapi_extra=multipart_body(
        {"manifest": "JSON list of {file, id, title, artist}; other files get their stem as id"},
        files="catalogue recordings",
    ),
)
async def add_tracks(request: Request, key: Annotated[ApiKey, Depends(require("admin"))]):
    """Multipart: one or more ``files`` parts and an optional ``manifest`` part (JSON list
    of ``{file, id, title, artist}``; files it does not name get their stem as id).
    Ingested synchronously; per-file outcomes in the answer."""
    core = request.app.state.core
    parts = {
        "manifest": (
            MAX_MANIFEST_BYTES,
            lambda n: ApiError(413, "manifest_too_large", f"manifest is larger than {n} bytes"),
        )
    }
    upload = await read_upload(
        request, core.blobs, max_file_bytes=core.settings.max_file_bytes,
        max_files=MAX_INGEST_FILES, text_parts=parts,
    )  # fmt: skip
    manifest = parse_manifest(upload.texts.get("manifest"), upload.files)
    return await run_in_threadpool(_ingest, core, upload.files, manifest, f"api:{key.id}")


def _decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        return base64.urlsafe_b64decode(cursor.encode("ascii") + b"==").decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise ApiError(400, "cursor_invalid", "not a cursor of this listing") from None


def _encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode("utf-8")).decode("ascii").rstrip("=")


@router.get("/tracks", response_model=CataloguePage)
def list_tracks(
    request: Request,
    _key: Annotated[ApiKey, Depends(require("admin"))],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
):
    """Catalogue entries by id, disabled ones included; pass ``next_cursor`` back as
    ``cursor`` for the next page (``null`` on the last page)."""
    store = request.app.state.core.store
    rows = store.list_tracks_page(after=_decode_cursor(cursor), limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "tracks": [track_view(t) for t in rows],
        "next_cursor": _encode_cursor(rows[-1].id) if more and rows else None,
    }


@router.get("/tracks/{track_id}", response_model=CatalogueTrackView)
def get_track(track_id: str, request: Request, _key: Annotated[ApiKey, Depends(require("admin"))]):
    t = request.app.state.core.store.get_track(track_id)
    if t is None:
        raise ApiError(404, "catalogue_not_found", f"no catalogue entry {track_id!r}")
    return track_view(t)


@router.post(
    "/tracks/{track_id}/disable",
    response_model=CatalogueTrackView,
    openapi_extra=reason_body("the entry"),
)
async def disable_track(
    track_id: str, request: Request, _key: Annotated[ApiKey, Depends(require("admin"))]
):
    """Body ``{"reason": "..."}`` (required). The entry stops matching at once for new
    scans (the index views reopen); the row and past decisions stay."""
    reason = await read_reason(request, "the entry")
    store = request.app.state.core.store

    def disable():
        if store.get_track(track_id) is None:
            raise ApiError(404, "catalogue_not_found", f"no catalogue entry {track_id!r}")
        store.disable_track(track_id, reason=reason)
        return track_view(store.get_track(track_id))

    return await run_in_threadpool(disable)
