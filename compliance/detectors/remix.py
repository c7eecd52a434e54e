"""Remixes and samples: an excerpt of a catalogue recording inside other material."""

from __future__ import annotations

from compliance.detectors.base import ScanContext
from compliance.detectors.landmark_evidence import (
    MIN_COVERAGE,
    coverage,
    landmark_evidence,
    match_summary,
    reportable,
)
from compliance.domain import Evidence, EvidenceKind


class RemixDetector:
    name = "remix"
    version = "2"
    """2: weak alignments and thin vote cells confirmed by the presence check."""

    def run(self, ctx: ScanContext) -> list[Evidence]:
        upload_s = ctx.clip.duration_s
        out: list[Evidence] = []
        for m in ctx.catalogue_matches:
            cov = coverage(m, upload_s)
            if cov >= MIN_COVERAGE or not reportable(m):
                continue
            lm = m.match
            explanation = (
                f"upload {lm.query_start_s:.1f}-{lm.query_end_s:.1f} s contains "
                f"catalogue '{m.catalogue_id}' {lm.catalogue_start_s:.1f}-"
                f"{lm.catalogue_end_s:.1f} s ({match_summary(m)})"
            )
            out.append(
                landmark_evidence(
                    m,
                    kind=EvidenceKind.REMIX,
                    detector=self.name,
                    version=self.version,
                    explanation=explanation,
                    details={"coverage": round(cov, 3)},
                )
            )
        return out
