"""Covers: the composition of a catalogue recording in a new performance.

Runs the catalogue cover search (:mod:`fingerprints.index.cover_index`: section
embeddings shortlist 100 tracks, a coarse alignment ranks them, the best 4 are aligned
in full) and reports the best
candidates as ``cover`` evidence with the key shift, the tempo ratio and the aligned
sections. Not run when the landmark search found the upload to be a catalogue
recording with confidence (a re-upload is not a cover of itself), and a catalogue id the
landmark detectors already report with strength 0.5 or more is not reported again as a
cover.

The raw score is the mean of the normalised Qmax of the CRP chromas and of the plain
chromas (:func:`fingerprints.cover.align_fused`). The strength is a logistic of it whose
midpoint sits three widths above the largest chance score on the calibration half of the
development corpus's negatives (cover signal version 3: 4.51; the held-out half's
largest was 4.01: docs/benchmarks.md, "Covers (issue 4)").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from compliance.detectors.base import ScanContext
from compliance.detectors.landmark_evidence import (
    DROPPED_BELOW_THRESHOLD,
    confident,
    is_catalogue_recording,
    logistic,
)
from compliance.domain import Evidence, EvidenceKind

if TYPE_CHECKING:
    from fingerprints.cover import CoverAlignment
    from fingerprints.index.cover_index import CoverMatch

MIDPOINT = 6.01
"""Alignment score at which strength is 0.5."""
WIDTH = 0.5
"""Logistic width, score units."""
REPORT_MIN_STRENGTH = 0.02
"""Weaker candidates are not reported."""
MAX_REPORTED = 3
"""Candidates reported per upload, strongest first."""


def strength_from_score(score: float) -> float:
    """Logistic strength in 0..1 of an alignment score."""
    return logistic(score, MIDPOINT, WIDTH)


# Outcomes of a cover candidate (the scan's ``cover_candidates``, the explain endpoint).
# DROPPED_BELOW_THRESHOLD (imported above) is shared with the landmark candidates.
KEPT_COVER = "kept_cover"
DROPPED_RECORDING = "dropped_landmark_match"
DROPPED_BEYOND_MAX = "dropped_beyond_max_reported"


@dataclass(frozen=True, slots=True)
class CoverCandidate:
    """One catalogue track the cover search rescored for an upload, and what the
    detector made of it."""

    match: CoverMatch
    strength: float
    outcome: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        a = self.match.alignment
        return {
            "catalogue_id": self.match.catalogue_id,
            "score": round(a.score, 3),
            "strength": round(self.strength, 4),
            "key_shift_semitones": a.key_shift_semitones,
            "tempo_ratio": round(a.tempo_ratio, 4),
            **_section(a),
            "shortlist_similarity": round(self.match.similarity, 4),
            "outcome": self.outcome,
            "reason": self.reason,
        }


def _section(a: CoverAlignment) -> dict[str, float]:
    """The aligned sections of an alignment, seconds, as reported."""
    return {
        "query_start_s": round(a.query_start_s, 2),
        "query_end_s": round(a.query_end_s, 2),
        "catalogue_start_s": round(a.catalogue_start_s, 2),
        "catalogue_end_s": round(a.catalogue_end_s, 2),
    }


def classify(matches: list[CoverMatch], ctx: ScanContext) -> list[CoverCandidate]:
    """What the detector does with each candidate of the cover search (best score
    first): a catalogue id the landmark detectors report with confidence is a recording
    of it, not a cover; then at most :data:`MAX_REPORTED` of strength
    :data:`REPORT_MIN_STRENGTH` or more are kept."""
    landmark_ids = {m.catalogue_id for m in confident(ctx.catalogue_matches)}
    out: list[CoverCandidate] = []
    kept = 0
    for cm in matches:
        score = cm.alignment.score
        strength = strength_from_score(score)
        if cm.catalogue_id in landmark_ids:
            outcome = DROPPED_RECORDING
            reason = "the landmark detectors report this recording itself: not a cover"
        elif strength < REPORT_MIN_STRENGTH:
            outcome = DROPPED_BELOW_THRESHOLD
            reason = (
                f"alignment score {score:.2f}, strength {strength:.4f} below the report "
                f"threshold {REPORT_MIN_STRENGTH} (0.5 at {MIDPOINT:g}): chance level"
            )
        elif kept >= MAX_REPORTED:
            outcome = DROPPED_BEYOND_MAX
            reason = f"{MAX_REPORTED} stronger cover candidates are reported"
        else:
            kept += 1
            outcome, reason = KEPT_COVER, f"alignment score {score:.2f}: reported as a cover"
        out.append(CoverCandidate(cm, strength, outcome, reason))
    return out


class CoverDetector:
    name = "cover"
    version = "4"  # 4: the shortlist compares the slower time frequencies only

    def run(self, ctx: ScanContext) -> list[Evidence]:
        if ctx.cover_search is None:
            return []
        if is_catalogue_recording(confident(ctx.catalogue_matches), ctx.clip.duration_s):
            return []  # the upload is a catalogue recording
        seq = ctx.chroma
        if not seq.usable:
            return []
        return [
            self._evidence(c)
            for c in classify(ctx.cover_search(seq), ctx)
            if c.outcome == KEPT_COVER
        ]

    def _evidence(self, c: CoverCandidate) -> Evidence:
        cm, a = c.match, c.match.alignment
        return Evidence(
            kind=EvidenceKind.COVER,
            strength=c.strength,
            detector=self.name,
            detector_version=self.version,
            explanation=(
                f"upload {a.query_start_s:.1f}-{a.query_end_s:.1f} s follows the "
                f"harmony of catalogue '{cm.catalogue_id}' "
                f"{a.catalogue_start_s:.1f}-{a.catalogue_end_s:.1f} s (key "
                f"{a.key_shift_semitones:+d} st, tempo x{a.tempo_ratio:.2f}, "
                f"score {a.score:.1f})"
            ),
            catalogue_id=cm.catalogue_id,
            query_start_s=a.query_start_s,
            catalogue_start_s=a.catalogue_start_s,
            matched_s=a.query_end_s - a.query_start_s,
            speed_ratio=a.tempo_ratio,
            pitch_shift_semitones=float(a.key_shift_semitones),
            raw_score=round(a.score, 3),
            raw_unit="normalised Qmax, mean of the CRP and plain chromas",
            details={
                "sections": [_section(a)],
                "key_shift_semitones": a.key_shift_semitones,
                "tempo_ratio": round(a.tempo_ratio, 4),
                "shortlist_similarity": round(cm.similarity, 4),
            },
        )
