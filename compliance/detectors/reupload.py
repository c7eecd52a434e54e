"""Re-uploads: a catalogue recording making up all or nearly all of an upload.

Covers transcodes, noise, EQ, crops, speed, pitch and tempo changes (the landmark search
reports the speed ratio and pitch shift it aligned at). The top candidates are also
compared whole-file with Chromaprint, a cheap second opinion for untouched copies that is
reported in the evidence details.
"""

from __future__ import annotations

from compliance.detectors.base import CatalogueMatch, ScanContext
from compliance.detectors.landmark_evidence import (
    coverage,
    is_reupload,
    landmark_evidence,
    match_summary,
    reportable,
)
from compliance.domain import Evidence, EvidenceKind
from fingerprints import chromaprint

CHROMAPRINT_CANDIDATES = 3
"""Top landmark candidates that also get the whole-file Chromaprint comparison."""


class ReuploadDetector:
    name = "reupload"
    version = "4"
    """2: strength is the stronger of the alignment and the presence check; 3: a match
    carried by the coherence check is a sample, not a re-upload; 4: the coverage counts
    the span a confident coherence check confirms (as the remix detector's version 4)."""

    def run(self, ctx: ScanContext) -> list[Evidence]:
        upload_s = ctx.clip.duration_s
        out: list[Evidence] = []
        for rank, m in enumerate(ctx.catalogue_matches):
            cov = coverage(m, upload_s)
            if not is_reupload(m, upload_s) or not reportable(m):
                continue
            details: dict[str, object] = {"coverage": round(cov, 3)}
            if rank < CHROMAPRINT_CANDIDATES:
                details.update(self._chromaprint(ctx, m))
            lm = m.match
            explanation = (
                f"{lm.matched_s:.1f} s of the upload ({cov:.0%}) align with catalogue "
                f"'{m.catalogue_id}' from {lm.catalogue_start_s:.1f} s ({match_summary(m)})"
            )
            out.append(
                landmark_evidence(
                    m,
                    kind=EvidenceKind.REUPLOAD,
                    detector=self.name,
                    version=self.version,
                    explanation=explanation,
                    details=details,
                )
            )
        return out

    @staticmethod
    def _chromaprint(ctx: ScanContext, m: CatalogueMatch) -> dict[str, object]:
        ref = ctx.chromaprint_of(m.catalogue_id)
        if ref is None or ref.size == 0 or ctx.chromaprint.size == 0:
            return {}
        cm = chromaprint.compare(ctx.chromaprint, ref)
        if cm is None:
            return {"chromaprint_score": 0.0}
        whole = (
            cm.overlap_s >= 0.9 * min(ctx.clip.duration_s, m.catalogue_duration_s)
            and cm.score >= 0.85
        )
        return {"chromaprint_score": round(cm.score, 3), "whole_file_duplicate": whole}
