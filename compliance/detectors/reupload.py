"""Re-uploads: a catalogue recording making up all or nearly all of an upload.

Covers transcodes, noise, EQ, crops, speed, pitch and tempo changes (the landmark search
reports the speed ratio and pitch shift it aligned at). The top candidates are also
compared whole-file with Chromaprint, a cheap second opinion for untouched copies that is
reported in the evidence details.
"""

from __future__ import annotations

from compliance.detectors.base import CatalogueMatch, ScanContext
from compliance.detectors.landmark_strength import strength_from_inliers
from compliance.domain import Evidence, EvidenceKind
from fingerprints import chromaprint

MIN_COVERAGE = 0.6
"""Share of the upload the matched span must cover to be a re-upload (else: remix)."""
REPORT_MIN_STRENGTH = 0.02
"""Weaker candidates are not reported at all."""
CHROMAPRINT_CANDIDATES = 3


def coverage(m: CatalogueMatch, upload_s: float) -> float:
    """Share of the upload covered by the matched span (0..1)."""
    if upload_s <= 0:
        return 0.0
    return min(1.0, m.match.matched_s / upload_s)


class ReuploadDetector:
    name = "reupload"
    version = "1"

    def run(self, ctx: ScanContext) -> list[Evidence]:
        upload_s = ctx.clip.duration_s
        out: list[Evidence] = []
        for rank, m in enumerate(ctx.catalogue_matches):
            cov = coverage(m, upload_s)
            if cov < MIN_COVERAGE:
                continue
            strength = strength_from_inliers(m.match.inliers)
            if strength < REPORT_MIN_STRENGTH:
                continue
            details: dict[str, object] = {"coverage": round(cov, 3), "bank": "catalogue"}
            if rank < CHROMAPRINT_CANDIDATES:
                details.update(self._chromaprint(ctx, m))
            lm = m.match
            out.append(
                Evidence(
                    kind=EvidenceKind.REUPLOAD,
                    strength=strength,
                    detector=self.name,
                    detector_version=self.version,
                    explanation=(
                        f"{lm.matched_s:.1f} s of the upload ({cov:.0%}) align with catalogue "
                        f"'{m.catalogue_id}' from {lm.catalogue_start_s:.1f} s "
                        f"({lm.inliers} aligned landmarks, speed x{lm.speed_ratio:.3f}, "
                        f"pitch {lm.pitch_shift_semitones:+.2f} st)"
                    ),
                    catalogue_id=m.catalogue_id,
                    query_start_s=lm.query_start_s,
                    catalogue_start_s=lm.catalogue_start_s,
                    matched_s=lm.matched_s,
                    speed_ratio=lm.speed_ratio,
                    pitch_shift_semitones=lm.pitch_shift_semitones,
                    raw_score=float(lm.inliers),
                    raw_unit="aligned_landmarks",
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
