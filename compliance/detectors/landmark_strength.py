"""Mapping of a landmark alignment to a strength in 0..1, shared by the detectors that
read landmark matches.

The raw score of a landmark match is the number of distinct upload anchors on the fitted
alignment line. Chance alignments between unrelated music (shared tempo, key and
timbre; repetitive, quantised material) collect anchors at a low *rate* over long spans,
up to about 3 per second in the development corpus; true matches run at 4 to 100 per
second. The strength is therefore a logistic of the anchors in excess of that chance
rate over the matched span. The constants are calibrated on the calibration half of
the development corpus negatives (docs/benchmarks.md, "Calibration"); a new calibration
is a new detector version.
"""

from __future__ import annotations

import math

CHANCE_RATE = 3.0
"""Aligned anchors per matched second that chance alignments reach, anchors/s."""
EXCESS_MIDPOINT = 15.0
"""Excess anchors at which strength is 0.5."""
EXCESS_WIDTH = 3.0
"""Logistic width, anchors."""


def excess_anchors(inliers: int, matched_s: float, *, chance_rate: float = CHANCE_RATE) -> float:
    """Aligned anchors above what chance gives over ``matched_s`` seconds."""
    return float(inliers) - chance_rate * max(0.0, matched_s)


def strength_from_match(
    inliers: int,
    matched_s: float,
    *,
    midpoint: float = EXCESS_MIDPOINT,
    width: float = EXCESS_WIDTH,
) -> float:
    """Logistic strength in 0..1 of an alignment with ``inliers`` anchors over
    ``matched_s`` seconds of the upload."""
    z = (excess_anchors(inliers, matched_s) - midpoint) / width
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))
