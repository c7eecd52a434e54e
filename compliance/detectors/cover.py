"""Covers: the composition of a catalogue recording in a new performance.

Runs the catalogue cover search (:mod:`fingerprints.index.cover_index`: section
embeddings shortlist 100 tracks, a coarse alignment ranks them, the best 6 are aligned
in full) and reports the best
candidates as ``cover`` evidence with the key shift, the tempo ratio and the aligned
sections. Not run when the landmark search found the upload to be a catalogue
recording with confidence (a re-upload is not a cover of itself), and a catalogue id the
landmark detectors already report with strength 0.5 or more is not reported again as a
cover.

The raw score is the alignment's normalised Qmax (:func:`fingerprints.cover.align`).
The strength is a logistic of it whose midpoint sits three widths above the largest
chance score on the calibration half of the development corpus's negatives (cover signal
version 2: 5.71; the held-out half's largest was 5.70: docs/benchmarks.md, "Covers
(issue 4)").
"""

from __future__ import annotations

from compliance.detectors.base import ScanContext
from compliance.detectors.landmark_evidence import confident, is_catalogue_recording, logistic
from compliance.domain import Evidence, EvidenceKind

MIDPOINT = 7.21
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


class CoverDetector:
    name = "cover"
    version = "2"

    def run(self, ctx: ScanContext) -> list[Evidence]:
        if ctx.cover_search is None:
            return []
        upload_s = ctx.clip.duration_s
        matches = ctx.catalogue_matches
        strong = confident(matches)
        if is_catalogue_recording(strong, upload_s):
            return []  # the upload is a catalogue recording
        seq = ctx.chroma
        if not seq.usable:
            return []
        # a recording the landmark detectors report with confidence is not also a cover
        landmark_ids = {m.catalogue_id for m in strong}
        out: list[Evidence] = []
        for cm in ctx.cover_search(seq):
            if cm.catalogue_id in landmark_ids:
                continue
            a = cm.alignment
            strength = strength_from_score(a.score)
            if strength < REPORT_MIN_STRENGTH:
                break  # sorted by score
            out.append(
                Evidence(
                    kind=EvidenceKind.COVER,
                    strength=strength,
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
                    raw_unit="normalised Qmax",
                    details={
                        "sections": [
                            {
                                "query_start_s": round(a.query_start_s, 2),
                                "query_end_s": round(a.query_end_s, 2),
                                "catalogue_start_s": round(a.catalogue_start_s, 2),
                                "catalogue_end_s": round(a.catalogue_end_s, 2),
                            }
                        ],
                        "key_shift_semitones": a.key_shift_semitones,
                        "tempo_ratio": round(a.tempo_ratio, 4),
                        "shortlist_similarity": round(cm.similarity, 4),
                    },
                )
            )
            if len(out) >= MAX_REPORTED:
                break
        return out
