"""The protected-voice bank over the API (scope ``admin``).

``POST /v1/banks/protected_voice/{voice_id}/references`` enrols uploaded reference
recordings (multipart ``files`` and an optional ``enrolment`` JSON part: ``artist_name``,
``authorised_accounts``, ``consent``, ``provenance``) through
:func:`compliance.voices.bank.enrol`, the function behind ``compliance bank import
--kind protected_voice``; the answer lists what happened to each file. A voice left
with no usable reference is not created (422 ``voice_no_usable_reference``, with the
refusals). Workers see a change within their bank cache's time
(:class:`compliance.voices.search.BankCache`).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from compliance.api.auth import require
from compliance.api.errors import ApiError, read_reason
from compliance.api.keys import ApiKey
from compliance.api.schemas import ErrorResponse, multipart_body, reason_body
from compliance.api.upload import read_upload

MAX_ENROLMENT_BYTES = 64 << 10
MAX_REFERENCES = 50

router = APIRouter(
    prefix="/v1/banks/protected_voice",
    responses={s: {"model": ErrorResponse} for s in (400, 401, 403, 404, 413, 415, 422)},
)


def _enrolment(raw: bytes | None) -> dict[str, Any]:
    if raw is None:
        return {}
    try:
        d = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ApiError(
            400, "enrolment_invalid", "the enrolment part must be a JSON object"
        ) from None
    if not isinstance(d, dict):
        raise ApiError(400, "enrolment_invalid", "the enrolment part must be a JSON object")
    unknown = set(d) - {"artist_name", "authorised_accounts", "consent", "provenance"}
    if unknown:
        raise ApiError(400, "enrolment_invalid", f"unknown enrolment fields: {sorted(unknown)}")
    accounts = d.get("authorised_accounts", [])
    if not isinstance(accounts, list) or not all(isinstance(a, str) and a for a in accounts):
        raise ApiError(400, "enrolment_invalid", "authorised_accounts must be a list of ids")
    for k in ("artist_name", "provenance"):
        if d.get(k) is not None and not isinstance(d[k], str):
            raise ApiError(400, "enrolment_invalid", f"{k} must be a string")
    if d.get("consent") is not None and not isinstance(d["consent"], dict):
        raise ApiError(400, "enrolment_invalid", "consent must be a JSON object")
    return d


@router.post(
    "/{voice_id}/references",
    openapi_extra=multipart_body(
        {"enrolment": "JSON object: artist_name, authorised_accounts, consent, provenance"},
        files="reference recordings of the voice",
    ),
)
async def add_references(
    voice_id: str, request: Request, key: Annotated[ApiKey, Depends(require("admin"))]
):
    """Enrol reference recordings of a protected voice (created on first use)."""
    from compliance.voices.bank import enrol, get_voice

    core = request.app.state.core
    parts = {"enrolment": (MAX_ENROLMENT_BYTES, lambda n: ApiError(
        413, "enrolment_too_large", f"the enrolment part is larger than {n} bytes"))}  # fmt: skip
    upload = await read_upload(
        request, core.blobs, max_file_bytes=core.settings.max_file_bytes,
        max_files=MAX_REFERENCES, text_parts=parts,
    )  # fmt: skip
    d = _enrolment(upload.texts.get("enrolment"))

    def run():
        res = enrol(
            core.store, voice_id, [core.blobs.path(f.address) for f in upload.files],
            artist_name=d.get("artist_name"), authorised_accounts=d.get("authorised_accounts", []),
            consent=d.get("consent"), provenance=d.get("provenance") or "api",
            added_by=f"api:{key.id}", names=[f.name for f in upload.files],
        )  # fmt: skip
        refused = [{"file": f, "code": c, "message": m} for f, c, m in res.refused]
        if not res.usable:
            detail = "; ".join(f"{r['file']}: {r['code']}" for r in refused)
            raise ApiError(422, "voice_no_usable_reference",
                           f"voice {voice_id}: no usable reference ({detail})")  # fmt: skip
        return {
            "voice": get_voice(core.store, voice_id).view(),
            "created": res.created,
            "added": res.added,
            "refused": refused,
        }

    # coded bank errors (voice_id_invalid, voice_model_mismatch) answer 400 through the
    # ComplianceError handler (compliance.api.errors)
    return await run_in_threadpool(run)


@router.get("")
def list_voices(request: Request, _key: Annotated[ApiKey, Depends(require("admin"))]):
    """Every protected voice, disabled ones included."""
    from compliance.voices.bank import list_voices as voices

    return {"voices": [v.view() for v in voices(request.app.state.core.store)]}


@router.get("/{voice_id}")
def get_voice(voice_id: str, request: Request, _key: Annotated[ApiKey, Depends(require("admin"))]):
    from compliance.voices.bank import get_voice as one

    v = one(request.app.state.core.store, voice_id)
    if v is None:
        raise ApiError(404, "voice_not_found", f"no protected voice {voice_id!r}")
    return v.view()


@router.post("/{voice_id}/disable", openapi_extra=reason_body("the voice"))
async def disable(
    voice_id: str, request: Request, _key: Annotated[ApiKey, Depends(require("admin"))]
):
    """Body ``{"reason": "..."}`` (required). The voice stops matching (workers see it
    within their cache time); it and past decisions stay."""
    from compliance.voices.bank import disable_voice
    from compliance.voices.bank import get_voice as one

    reason = await read_reason(request, "the voice")
    store = request.app.state.core.store
    if not disable_voice(store, voice_id, reason=reason):
        raise ApiError(404, "voice_not_found", f"no protected voice {voice_id!r}")
    return one(store, voice_id).view()
