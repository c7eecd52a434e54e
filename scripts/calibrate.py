"""Calibration report from a harness results file (``score.py --out``).

The negatives and positives of the development corpus are split into two halves by a
hash of the query id: the *calibration* half sets thresholds, the *held-out* half checks
them. For the landmark detectors the strength is a logistic of the aligned-anchor count,
so the anchor count behind each strength is recovered and reported too.

Usage: python scripts/calibrate.py RESULTS.json CORPUS_DIR
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compliance.detectors.landmark_evidence import ANCHOR_MIDPOINT, ANCHOR_WIDTH


def half(query_id: str) -> str:
    """'calibration' or 'held-out', fixed by the query id."""
    h = int(hashlib.sha256(query_id.encode()).hexdigest(), 16) % 2
    return "calibration" if h == 0 else "held-out"


def anchors(strength: float) -> float:
    s = min(max(strength, 1e-12), 1 - 1e-12)
    return ANCHOR_MIDPOINT + ANCHOR_WIDTH * math.log(s / (1 - s))


def main(results: str, corpus: str) -> None:
    findings = json.loads(Path(results).read_text())["findings"]
    with open(Path(corpus) / "queries.csv", newline="") as fh:
        queries = {q["query_id"]: q for q in csv.DictReader(fh)}
    rows = []
    for qid, found in findings.items():
        q = queries[qid]
        expected = set(filter(None, q["expected_ids"].split(";")))
        related = set(filter(None, q["related_ids"].split(";")))
        pos = [f["score"] for f in found if f.get("catalogue_id") in expected]
        neg = [f["score"] for f in found if f.get("catalogue_id") not in expected | related]
        rows.append((qid, q["kind"], q["subkind"], max(pos, default=0.0), max(neg, default=0.0)))
    for part in ("calibration", "held-out"):
        negs = sorted(r[4] for r in rows if r[1] == "negative" and half(r[0]) == part)
        wrong = sorted(r[4] for r in rows if r[1] != "negative" and half(r[0]) == part)
        top = negs[-3:]
        print(
            f"{part}: {len(negs)} negatives; largest chance strengths "
            f"{[round(x, 3) for x in top]} (anchors {[round(anchors(x), 1) for x in top if x]}); "
            f"largest wrong-id strength on positives {round(wrong[-1], 3) if wrong else None}"
        )
    calib_max = max(r[4] for r in rows if r[1] == "negative" and half(r[0]) == "calibration")
    held = [r for r in rows if r[1] == "negative" and half(r[0]) == "held-out"]
    print(f"threshold = largest calibration-half negative strength: {calib_max:.3f}")
    print(f"held-out negatives above it: {sum(r[4] > calib_max for r in held)} of {len(held)}")
    for threshold in (0.5,):
        fp = [r[0] for r in rows if r[1] == "negative" and r[4] >= threshold]
        print(f"negatives at or above the policy's 0.5: {len(fp)} of "
              f"{sum(r[1] == 'negative' for r in rows)} {fp}")  # fmt: skip
        subkinds = sorted({(r[1], r[2]) for r in rows if r[1] != "negative"})
        for kind, sub in subkinds:
            v = [r[3] for r in rows if (r[1], r[2]) == (kind, sub)]
            print(f"  {kind}/{sub}: recall at strength >= {threshold}: "
                  f"{sum(x >= threshold for x in v) / len(v):.2f} (n={len(v)})")  # fmt: skip


if __name__ == "__main__":
    main(*sys.argv[1:3])
