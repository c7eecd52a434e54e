"""Calibration of the presence and coherence checks (fingerprints/presence.py,
fingerprints/coherence.py) on the development corpus.

Builds an in-memory landmark index of the corpus catalogue (with its peaks and their
phases), runs the two-stage search on every remix and negative query, and prints, per
half of a hash split of the query ids, the largest presence z-scores and coherence
scores of unrelated catalogue tracks on the negatives; then the midpoints three logistic
widths above the calibration half's maxima, the recall on remixes with the midpoints in
the code, and how many held-out negatives reach strength 0.5. This is how
``PRESENCE_MIDPOINT`` and ``COHERENCE_MIDPOINT`` in
compliance/detectors/landmark_evidence.py were set.

Usage: python scripts/calibrate_presence.py CORPUS_DIR [--cells N]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compliance.detectors.base import CatalogueMatch
from compliance.detectors.landmark_evidence import COHERENCE_WIDTH, PRESENCE_WIDTH, match_strength
from fingerprints import landmarks as L
from fingerprints.align import search
from fingerprints.audio import decode
from fingerprints.index.landmark_index import LandmarkIndex, Segment


def half(query_id: str) -> str:
    """'calibration' or 'held-out', fixed by the query id (as scripts/calibrate.py)."""
    h = int(hashlib.sha256(query_id.encode()).hexdigest(), 16) % 2
    return "calibration" if h == 0 else "held-out"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--cells", type=int, default=40, help="vote cells verified per query")
    args = ap.parse_args()
    with open(args.corpus / "catalogue.csv", newline="") as fh:
        cat = list(csv.DictReader(fh))
    fps = {}
    for r in cat:
        clip = decode(args.corpus / r["path"], sample_rate=L.SAMPLE_RATE, backend="soundfile")
        fps[r["catalogue_id"]] = L.fingerprint(clip.samples)
    index = LandmarkIndex([Segment.build(fps)])
    ids = index.track_ids
    with open(args.corpus / "queries.csv", newline="") as fh:
        queries = [q for q in csv.DictReader(fh) if q["kind"] in ("remix", "negative")]
    rows, cpu, audio = [], 0.0, 0.0
    for q in queries:
        clip = decode(args.corpus / q["path"], sample_rate=L.SAMPLE_RATE, backend="soundfile")
        t0 = time.process_time()
        found = search(index, clip.samples, verify_cells=args.cells)
        cpu += time.process_time() - t0
        audio += clip.duration_s
        expected = set(filter(None, q["expected_ids"].split(";")))
        related = set(filter(None, q["related_ids"].split(";")))
        pos = [m for m in found if ids[m.track] in expected]
        neg = [m for m in found if ids[m.track] not in expected | related]
        rows.append(
            {
                "id": q["query_id"],
                "kind": q["kind"],
                "sub": q["subkind"],
                "neg_z": max((m.presence_z for m in neg if m.presence_z is not None), default=None),
                "neg_c": max(
                    (m.coherence_z for m in neg if m.coherence_z is not None), default=None
                ),
                "pos": pos,
                "neg": neg,
            }
        )
    print(f"search with presence check: {audio / cpu:.0f} audio-s per CPU-s")
    for key, name, width in (("neg_z", "presence", PRESENCE_WIDTH),
                             ("neg_c", "coherence", COHERENCE_WIDTH)):  # fmt: skip
        for part in ("calibration", "held-out"):
            zs = sorted(r[key] for r in rows if r["kind"] == "negative" and half(r["id"]) == part
                        and r[key] is not None)  # fmt: skip
            print(f"{part}: largest {name} scores on negatives {[round(z, 1) for z in zs[-5:]]}")
        cal = max((r[key] for r in rows if r["kind"] == "negative" and r[key] is not None
                   and half(r["id"]) == "calibration"), default=0.0)  # fmt: skip
        print(f"{name} midpoint = calibration maximum + 3 widths = {cal + 3 * width:.1f} "
              "(the code uses its constant)")  # fmt: skip

    def strength(ms: list) -> float:
        return max((match_strength(CatalogueMatch("x", 0.0, m)) for m in ms), default=0.0)

    held = [r for r in rows if r["kind"] == "negative" and half(r["id"]) == "held-out"]
    print(f"held-out negatives at strength >= 0.5: {sum(strength(r['neg']) >= 0.5 for r in held)}"
          f" of {len(held)}")  # fmt: skip
    for r in held:  # name them, for a person to listen to
        for m in r["neg"]:
            if match_strength(CatalogueMatch("x", 0.0, m)) >= 0.5:
                print(f"  {r['id']} ({r['sub']}): {ids[m.track]} {m}")
    for sub in ("sample_over", "sample_under"):
        xs = [r for r in rows if r["sub"] == sub]
        print(f"{sub}: {sum(strength(r['pos']) >= 0.5 for r in xs)} of {len(xs)} at >= 0.5")
        cs = [max((m.coherence_z or 0.0 for m in r["pos"]), default=0.0) for r in xs]
        print(f"  coherence scores of the right track: {sorted(round(c, 1) for c in cs)}")


if __name__ == "__main__":
    main()
