"""Mapping of a landmark alignment to a strength in 0..1, shared by the detectors that
read landmark matches.

The raw score of a landmark match is the number of distinct upload anchors on the fitted
alignment line (see :mod:`fingerprints.align`). Chance alignments of triplet landmarks
between unrelated recordings stay in single digits: on the calibration half of the
development corpus the largest was 9 anchors; true matches of 10 s and more collect tens
to thousands. The strength is a logistic of the anchor count whose midpoint sits above
the calibration maximum (docs/benchmarks.md, "Calibration"); a new calibration is a new
detector version.
"""

from __future__ import annotations

import math

ANCHOR_MIDPOINT = 15.0
"""Aligned anchors at which strength is 0.5."""
ANCHOR_WIDTH = 2.0
"""Logistic width, anchors."""


def strength_from_inliers(
    inliers: int, *, midpoint: float = ANCHOR_MIDPOINT, width: float = ANCHOR_WIDTH
) -> float:
    """Logistic strength in 0..1 of an alignment with ``inliers`` upload anchors (the
    span is judged by the policy's ``min_matched_s``, not here)."""
    z = (float(inliers) - midpoint) / width
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))
