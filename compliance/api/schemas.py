"""Response shapes of the API (documented in the OpenAPI schema at ``/docs``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    code: str = Field(description="stable machine-readable code")
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class SubmittedScan(BaseModel):
    scan_id: str = Field(description="this file of this submission (GET /v1/scans/{scan_id})")
    file: str
    content_hash: str
    analysis_id: str = Field(
        description="the shared analysis job: identical audio under the same policy is "
        "analysed once, every submission of it gets its own scan_id"
    )
    deduplicated: bool = Field(description="true when the analysis already existed")


class ErnWarningView(BaseModel):
    code: str
    message: str
    where: str | None = None


class SubmitResponse(BaseModel):
    release_id: str
    scans: list[SubmittedScan]
    warnings: list[ErnWarningView] = Field(
        default_factory=list,
        description="problems with the content of an ERN message that did not stop intake",
    )


class ScanView(BaseModel):
    scan_id: str
    release_id: str
    file: str
    content_hash: str
    analysis_id: str
    state: Literal["queued", "running", "done", "failed"]
    reason: str | None = Field(description="why it is waiting, or why it failed")
    attempts: int
    result: dict[str, Any] | None = Field(
        description="the `compliance check --json` object (docs/cli-json.md) when done; "
        "for a failed scan of bad content, the same object with `error`"
    )


class ReleaseView(BaseModel):
    release_id: str
    created_at: str
    metadata: dict[str, Any]
    scans: list[ScanView]


class CatalogueTrackView(BaseModel):
    id: str
    title: str | None
    artist: str | None
    content_hash: str
    duration_s: float
    added_at: str | None
    added_by: str | None
    disabled: bool
    disabled_reason: str | None
    disabled_at: str | None


class CataloguePage(BaseModel):
    tracks: list[CatalogueTrackView]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class IngestResult(BaseModel):
    file: str
    id: str
    outcome: Literal["added", "skipped", "failed"]
    code: str | None = Field(description="why skipped or failed (e.g. already_ingested)")
    message: str | None


class CatalogueIngestResponse(BaseModel):
    added: int
    skipped: int
    failed: int
    results: list[IngestResult] = Field(description="one per uploaded file, in upload order")
    catalogue_tracks: int
    catalogue_generation: int


class ExplainedCandidate(BaseModel):
    catalogue_id: str
    aligned_anchors: int = Field(description="upload anchors on the fitted alignment line")
    strength: float
    coverage: float = Field(description="share of the upload the matched span covers")
    matched_s: float
    outcome: Literal[
        "kept_reupload", "kept_remix", "dropped_below_report_threshold",
        "dropped_catalogue_disabled",
    ]  # fmt: skip
    reason: str
    evidence: list[int] = Field(description="indexes into the result's evidence")
    rules_fired: list[str] = Field(description="ids of the rules that matched that evidence")


class ExplainedCoverCandidate(BaseModel):
    catalogue_id: str
    score: float = Field(description="alignment score (normalised Qmax)")
    strength: float
    key_shift_semitones: int = Field(description="upload key minus catalogue key")
    tempo_ratio: float = Field(description="upload tempo over catalogue tempo")
    query_start_s: float
    query_end_s: float
    catalogue_start_s: float
    catalogue_end_s: float
    shortlist_similarity: float
    outcome: Literal[
        "kept_cover", "dropped_landmark_match", "dropped_below_report_threshold",
        "dropped_beyond_max_reported",
    ]  # fmt: skip
    reason: str
    evidence: list[int] = Field(description="indexes into the result's evidence")
    rules_fired: list[str] = Field(description="ids of the rules that matched that evidence")


class ExplainView(BaseModel):
    scan_id: str
    analysis_id: str
    file: str
    decision: str | None
    duration_s: float | None
    thresholds: dict[str, float]
    candidates: list[ExplainedCandidate]
    cover_candidates: list[ExplainedCoverCandidate] = Field(
        description="what the cover search rescored (empty when it did not run)"
    )


def multipart_body(text_parts: dict[str, str], *, files: str) -> dict:
    """OpenAPI ``requestBody`` of a route that parses its multipart body itself (the
    upload streams into the blob store, so FastAPI never sees the parts): ``files`` (one
    or more, required) and the optional text parts, for clients and their generators.

    Parameters
    ----------
    text_parts : dict
        Part name -> description.
    files : str
        Description of the ``files`` parts.
    """
    binary = {"type": "string", "format": "binary", "minLength": 1}  # empty: 400 file_empty
    props: dict = {"files": {"type": "array", "minItems": 1, "items": binary, "description": files}}
    props.update({name: {"type": "string", "description": d} for name, d in text_parts.items()})
    schema = {
        "type": "object", "required": ["files"], "properties": props,
        "additionalProperties": False,  # other parts: 400 unexpected_part
    }  # fmt: skip
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }


def reason_body(what: str) -> dict:
    """OpenAPI ``requestBody`` of a disable route: ``{"reason": "..."}``, required."""
    reason = {
        "type": "string", "minLength": 1, "pattern": r"\S",
        "description": f"why {what} is disabled (kept with it)",
    }  # fmt: skip
    schema = {"type": "object", "required": ["reason"], "properties": {"reason": reason}}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
