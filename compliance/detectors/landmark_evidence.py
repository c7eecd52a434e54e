"""What the re-upload and remix detectors share: the strength of a landmark alignment,
the share of the upload it covers, and the Evidence record built from it.

The raw score of a landmark match is the number of distinct upload anchors on the fitted
alignment line (see :mod:`fingerprints.align`). Chance alignments of triplet landmarks
between unrelated recordings stay in single digits: on the calibration half of the
development corpus the largest was 9 anchors; true matches of 10 s and more collect tens
to thousands. The strength is a logistic of the anchor count whose midpoint sits three
widths above that calibration maximum (docs/benchmarks.md, "Calibration"); a new
calibration is a new detector version.

Weak alignments (and vote cells too thin to align) are also checked for the *presence*
of the catalogue's peaks in the upload (:mod:`fingerprints.presence`), which finds
samples under louder material; its robust z-score has a logistic strength of its own,
calibrated the same way. Vote cells and strong alignments at the original speed and
pitch are also checked for the catalogue recording's *waveform*
(:mod:`fingerprints.coherence`: the phase of its peaks), whose score has a third
logistic strength. A match is as strong as the
strongest of the three.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from compliance.detectors.base import CatalogueMatch
from compliance.domain import Evidence, EvidenceKind

ANCHOR_MIDPOINT = 15.0
"""Aligned anchors at which strength is 0.5."""
ANCHOR_WIDTH = 2.0
"""Logistic width, anchors."""
MIN_COVERAGE = 2.0 / 3.0
"""Share of the upload the matched span must cover to be a re-upload (else: remix): the
catalogue recording makes up most of the upload, two thirds or more."""
PRESENCE_MIDPOINT = 11.4
"""Presence z-score at which strength is 0.5: three widths above the largest chance
presence on the calibration half of the development corpus negatives (8.4;
``scripts/calibrate_presence.py``)."""
PRESENCE_WIDTH = 1.0
"""Logistic width, z units."""
COHERENCE_MIDPOINT = 16.8
"""Coherence score at which strength is 0.5: three widths above the largest score of an
unrelated catalogue track on the calibration half of the development corpus negatives
(10.8; ``scripts/calibrate_presence.py``). Chance alone stays near 5 (a random walk);
the negatives' larger scores are passages that really share a waveform with a catalogue
track of the same game soundtrack (docs/benchmarks.md)."""
COHERENCE_WIDTH = 2.0
"""Logistic width, score units: twice the presence check's, as the score runs twice as
far (up to 28 for an 8 s window of a sample louder than its bed)."""
REPORT_MIN_STRENGTH = 0.02
"""Weaker candidates are not reported at all."""


def logistic(x: float, midpoint: float, width: float) -> float:
    """``1 / (1 + exp(-(x - midpoint) / width))``, clamped against overflow."""
    z = (float(x) - midpoint) / width
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def strength_from_inliers(
    inliers: int, *, midpoint: float = ANCHOR_MIDPOINT, width: float = ANCHOR_WIDTH
) -> float:
    """Logistic strength in 0..1 of an alignment with ``inliers`` upload anchors (the
    span is judged by the policy's ``min_matched_s``, not here)."""
    return logistic(inliers, midpoint, width)


def strength_from_presence(
    z: float | None, *, midpoint: float = PRESENCE_MIDPOINT, width: float = PRESENCE_WIDTH
) -> float:
    """Logistic strength in 0..1 of a presence z-score (0 when the check did not run)."""
    return 0.0 if z is None else logistic(z, midpoint, width)


def strength_from_coherence(
    z: float | None, *, midpoint: float = COHERENCE_MIDPOINT, width: float = COHERENCE_WIDTH
) -> float:
    """Logistic strength in 0..1 of a coherence score (0 when the check did not run)."""
    return 0.0 if z is None else logistic(z, midpoint, width)


def _strengths(m: CatalogueMatch) -> tuple[float, float, float]:
    """Strengths of the alignment, the presence check and the coherence check."""
    lm = m.match
    return (
        strength_from_inliers(lm.inliers),
        strength_from_presence(lm.presence_z),
        strength_from_coherence(lm.coherence_z),
    )


def match_strength(m: CatalogueMatch) -> float:
    """Strength of a catalogue match: the strongest of its alignment, presence check and
    coherence check (a match found by either check alone has no aligned anchors)."""
    return max(_strengths(m))


def _carrier(m: CatalogueMatch) -> str:
    """Which evidence carries the match: ``aligned_landmarks``, ``presence_z`` or
    ``coherence_z`` (the alignment on a tie)."""
    anchors, pres, coh = _strengths(m)
    if coh > max(anchors, pres):
        return "coherence_z"
    return "presence_z" if pres > anchors else "aligned_landmarks"


def _raw(m: CatalogueMatch) -> tuple[float, str]:
    """The raw value behind :func:`match_strength` and its unit."""
    unit = _carrier(m)
    lm = m.match
    value = {"aligned_landmarks": lm.inliers, "presence_z": lm.presence_z,
             "coherence_z": lm.coherence_z}[unit]  # fmt: skip
    return float(value), unit


def masked(m: CatalogueMatch) -> bool:
    """Whether the presence or coherence check, not the alignment, carries the match:
    the catalogue audio is masked by louder material, so it is inside other material (a
    sample or remix) however much of the upload the span covers."""
    return _carrier(m) != "aligned_landmarks"


def is_reupload(m: CatalogueMatch, upload_s: float) -> bool:
    """A re-upload: the alignment carries the match and covers two thirds of the upload."""
    return coverage(m, upload_s) >= MIN_COVERAGE and not masked(m)


CONFIDENT = 0.5
"""Landmark matches at least this strong (the policy's block and review thresholds) are
taken as what the upload is: a re-upload or remix of that recording."""


def confident(matches: list[CatalogueMatch]) -> list[CatalogueMatch]:
    """The matches of at least :data:`CONFIDENT` strength."""
    return [m for m in matches if match_strength(m) >= CONFIDENT]


def is_catalogue_recording(matches: list[CatalogueMatch], upload_s: float) -> bool:
    """Whether a confident match makes the upload a copy of a catalogue recording
    (detectors of other kinds of content then have nothing to add)."""
    return any(is_reupload(m, upload_s) for m in confident(matches))


def span(m: CatalogueMatch) -> tuple[float, float, float, float]:
    """The reported span: upload start and end, catalogue start and end, seconds.

    The aligned anchors' span, widened to where the presence check found the catalogue's
    peaks when that check carries the match, and to where the coherence check found its
    waveform when that check carries the match or is confident on its own (strength >=
    :data:`CONFIDENT`): the few anchors that survive a loud bed cover only part of a
    sample, even when there are enough of them to carry the match (a 19 s sample was
    reported as its 4.6 s of anchors, under the policy's 5 s). A weak presence span never
    widens an alignment (it once turned a 12 s sample into a "re-upload").
    """
    lm = m.match
    q0, q1, c0, c1 = lm.query_start_s, lm.query_end_s, lm.catalogue_start_s, lm.catalogue_end_s
    carrier = _carrier(m)
    found = []
    if lm.presence_span_s is not None and carrier == "presence_z":
        found.append(lm.presence_span_s)
    if lm.coherence_span_s is not None and (
        carrier == "coherence_z" or strength_from_coherence(lm.coherence_z) >= CONFIDENT
    ):
        found.append(lm.coherence_span_s)
    if not found:
        return q0, q1, c0, c1
    p0, p1 = min(q0, *(f[0] for f in found)), max(q1, *(f[1] for f in found))
    s = lm.speed_ratio
    return p0, p1, max(0.0, c0 + s * (p0 - q0)), max(0.0, c0 + s * (p1 - q0))


def coverage(m: CatalogueMatch, upload_s: float) -> float:
    """Share of the upload covered by the reported span (0..1)."""
    if upload_s <= 0:
        return 0.0
    q0, q1, _, _ = span(m)
    return min(1.0, (q1 - q0) / upload_s)


def landmark_evidence(
    m: CatalogueMatch,
    *,
    kind: EvidenceKind,
    detector: str,
    version: str,
    explanation: str,
    details: dict[str, Any],
) -> Evidence:
    """Evidence of one aligned catalogue match, offsets and transformation included."""
    lm = m.match
    q0, q1, c0, _ = span(m)
    raw, unit = _raw(m)
    extra: dict[str, Any] = {"aligned_landmarks": int(lm.inliers)}
    if lm.presence_z is not None:
        extra["presence_z"] = round(float(lm.presence_z), 2)
    if lm.coherence_z is not None:
        extra["coherence_z"] = round(float(lm.coherence_z), 2)
    return Evidence(
        kind=kind,
        strength=match_strength(m),
        detector=detector,
        detector_version=version,
        explanation=explanation,
        catalogue_id=m.catalogue_id,
        query_start_s=q0,
        catalogue_start_s=c0,
        matched_s=q1 - q0,
        speed_ratio=lm.speed_ratio,
        pitch_shift_semitones=lm.pitch_shift_semitones,
        raw_score=raw,
        raw_unit=unit,
        details={"bank": "catalogue", **extra, **details},
    )


def match_summary(m: CatalogueMatch) -> str:
    """The evidence behind a match for people: anchors, presence, speed and pitch."""
    lm = m.match
    found = f"{lm.inliers} aligned landmarks"
    if lm.presence_z is not None:
        found += f", catalogue peaks present at z {lm.presence_z:.1f}"
    if lm.coherence_z is not None:
        found += f", catalogue waveform coherent at {lm.coherence_z:.1f}"
    return f"{found}, speed x{lm.speed_ratio:.3f}, pitch {lm.pitch_shift_semitones:+.2f} st"


def reportable(m: CatalogueMatch) -> bool:
    """Whether a candidate is strong enough to be listed at all."""
    return match_strength(m) >= REPORT_MIN_STRENGTH


# Outcomes of a landmark candidate (the scan's ``candidates`` list, the explain endpoint).
KEPT_REUPLOAD = "kept_reupload"
KEPT_REMIX = "kept_remix"
DROPPED_BELOW_THRESHOLD = "dropped_below_report_threshold"
DROPPED_DISABLED = "dropped_catalogue_disabled"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One catalogue track the landmark search returned for an upload, and what the
    detectors made of it (the same rules as :mod:`~compliance.detectors.reupload` and
    :mod:`~compliance.detectors.remix`)."""

    catalogue_id: str
    aligned_anchors: int
    strength: float
    coverage: float
    matched_s: float
    outcome: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "catalogue_id": self.catalogue_id,
            "aligned_anchors": self.aligned_anchors,
            "strength": round(self.strength, 4),
            "coverage": round(self.coverage, 3),
            "matched_s": round(self.matched_s, 3),
            "outcome": self.outcome,
            "reason": self.reason,
        }


def candidate(m: CatalogueMatch, upload_s: float, *, active: bool = True) -> Candidate:
    """Classify one search result as the detectors treat it."""
    strength = match_strength(m)
    cov = coverage(m, upload_s)
    if not active:
        outcome, reason = DROPPED_DISABLED, "the catalogue entry is disabled: it never matches"
    elif strength < REPORT_MIN_STRENGTH:
        outcome = DROPPED_BELOW_THRESHOLD
        reason = (
            f"strength {strength:.4f} below the report threshold {REPORT_MIN_STRENGTH} "
            f"({m.match.inliers} aligned anchors, 0.5 at {ANCHOR_MIDPOINT:g}; presence z "
            f"{'not checked' if m.match.presence_z is None else f'{m.match.presence_z:.1f}'}"
            f", 0.5 at {PRESENCE_MIDPOINT:g}; coherence "
            f"{'not checked' if m.match.coherence_z is None else f'{m.match.coherence_z:.1f}'}"
            f", 0.5 at {COHERENCE_MIDPOINT:g})"
        )
    elif is_reupload(m, upload_s):
        outcome = KEPT_REUPLOAD
        reason = f"covers {cov:.0%} of the upload (>= {MIN_COVERAGE:.0%}): reported as a re-upload"
    else:
        outcome = KEPT_REMIX
        reason = (
            f"found by the {_carrier(m).split('_')[0]} check under louder material: "
            "reported as a remix"
            if masked(m)
            else f"covers {cov:.0%} of the upload (< {MIN_COVERAGE:.0%}): reported as a remix"
        )
    q0, q1, _, _ = span(m)
    return Candidate(m.catalogue_id, int(m.match.inliers), strength, cov,
                     float(q1 - q0), outcome, reason)  # fmt: skip
