"""Remixes and samples: an excerpt of a catalogue recording inside other material."""

from __future__ import annotations

from compliance.detectors.base import ScanContext
from compliance.detectors.landmark_evidence import (
    coverage,
    is_reupload,
    landmark_evidence,
    match_summary,
    reportable,
    span,
)
from compliance.domain import Evidence, EvidenceKind


class RemixDetector:
    name = "remix"
    version = "4"
    """2: weak alignments and thin vote cells confirmed by the presence check; 3: and by
    the coherence check (the catalogue recording's waveform); 4: a confident coherence
    check widens the reported span of an alignment it confirms, strong alignments at the
    original speed are checked too, and the check's extent is per peak, not per second."""

    def run(self, ctx: ScanContext) -> list[Evidence]:
        upload_s = ctx.clip.duration_s
        out: list[Evidence] = []
        for m in ctx.catalogue_matches:
            cov = coverage(m, upload_s)
            if is_reupload(m, upload_s) or not reportable(m):
                continue
            q0, q1, c0, c1 = span(m)
            explanation = (
                f"upload {q0:.1f}-{q1:.1f} s contains catalogue '{m.catalogue_id}' "
                f"{c0:.1f}-{c1:.1f} s ({match_summary(m)})"
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
