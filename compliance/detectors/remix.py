"""Remixes and samples: an excerpt of a catalogue recording inside other material."""

from __future__ import annotations

from compliance.detectors.base import ScanContext
from compliance.detectors.landmark_strength import strength_from_inliers
from compliance.detectors.reupload import MIN_COVERAGE, REPORT_MIN_STRENGTH, coverage
from compliance.domain import Evidence, EvidenceKind


class RemixDetector:
    name = "remix"
    version = "1"

    def run(self, ctx: ScanContext) -> list[Evidence]:
        upload_s = ctx.clip.duration_s
        out: list[Evidence] = []
        for m in ctx.catalogue_matches:
            cov = coverage(m, upload_s)
            if cov >= MIN_COVERAGE:
                continue
            strength = strength_from_inliers(m.match.inliers)
            if strength < REPORT_MIN_STRENGTH:
                continue
            lm = m.match
            out.append(
                Evidence(
                    kind=EvidenceKind.REMIX,
                    strength=strength,
                    detector=self.name,
                    detector_version=self.version,
                    explanation=(
                        f"upload {lm.query_start_s:.1f}-{lm.query_end_s:.1f} s contains "
                        f"catalogue '{m.catalogue_id}' {lm.catalogue_start_s:.1f}-"
                        f"{lm.catalogue_end_s:.1f} s ({lm.inliers} aligned landmarks, "
                        f"speed x{lm.speed_ratio:.3f}, pitch {lm.pitch_shift_semitones:+.2f} st)"
                    ),
                    catalogue_id=m.catalogue_id,
                    query_start_s=lm.query_start_s,
                    catalogue_start_s=lm.catalogue_start_s,
                    matched_s=lm.matched_s,
                    speed_ratio=lm.speed_ratio,
                    pitch_shift_semitones=lm.pitch_shift_semitones,
                    raw_score=float(lm.inliers),
                    raw_unit="aligned_landmarks",
                    details={"coverage": round(cov, 3), "bank": "catalogue"},
                )
            )
        return out
