"""Research (issue 2): an exhaustive binary matched filter as a candidate stage for samples.

The landmark search misses samples mixed under a louder bed because too few of their
peak *pairs* survive in the mix (docs/benchmarks.md, "Session of 2026-12-07 (fifteenth
machine)"). Single peaks survive more often, so this script measures what they alone
find when every catalogue track is searched at the identity transform (a sample used
as is): every catalogue peak (the index's stored 48/s peaks, the presence and coherence
checks' peaks) votes for the catalogue-minus-upload offset at which the upload has a
spectral peak within +-1 frame and +-1 frequency bin (the upload's peaks at
``--pps`` per second). The votes of each global offset (all tracks laid end to end)
are scored against their neighbourhood (the mean over +-300 frames, z = (count - mean)
/ sqrt(mean + 1)).

Printed per remix: the score at the labelled alignment (the best within +-3 frames) and
how many offsets of the whole catalogue score higher (0: it is the best candidate); per
negative: the best score anywhere. The work grows with the catalogue (each query is
compared with every catalogue peak in its frequency bins), so this is a measurement, not
a design: see docs/benchmarks.md, "Session of 2026-12-07 (sixteenth machine)".

Usage: python scripts/explore_peak_coincidence.py CORPUS_DIR INDEX_DIR [--pps 300]
(INDEX_DIR: the ``index`` folder of a COMPLIANCE_HOME holding the corpus catalogue,
``compliance catalogue add --manifest`` of its ``path,id`` list.)
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fingerprints import landmarks as L
from fingerprints.audio import decode
from fingerprints.index.landmark_index import LandmarkIndex

GAP = 4000
"""Frames between two tracks on the global time axis (no offset spans two tracks)."""
PAD = 50_000
"""Added to every global offset so that an upload peak later than its catalogue peak
still votes at a non-negative position."""
BASELINE = 601
"""Frames of the moving mean a count is compared with."""


class Catalogue:
    """Every catalogue peak on one time axis, grouped by frequency bin."""

    def __init__(self, index: LandmarkIndex) -> None:
        self.ids = index.track_ids
        bases, bins, times, base = [], [], [], 0
        for i in range(len(self.ids)):
            t, p = index.track_peaks(i)
            bases.append(base)
            bins.append(L.peak_bins(p).astype(np.int64))
            times.append(t.astype(np.int64) + base)
            base += int(t.max() if t.size else 0) + GAP
        self.bases, self.frames = np.array(bases), base
        k, t = np.concatenate(bins), np.concatenate(times)
        order = np.argsort(k, kind="stable")
        self.k, self.t = k[order], t[order]
        self.starts = np.searchsorted(self.k, np.arange(int(self.k.max()) + 2))

    def scores(self, x: np.ndarray, *, pps: float) -> np.ndarray:
        """z score of every global offset for the upload ``x`` (11025 Hz mono)."""
        pk = L.extract_peaks(x, peaks_per_second=pps, time_radius=1, freq_radius=2)
        d = np.array([(dt, dk) for dt in (-1, 0, 1) for dk in (-1, 0, 1)])
        ut = np.maximum((pk.t.astype(np.int64)[:, None] + d[:, 0]).ravel(), 0)
        uk = (L.peak_bins(pk.p).astype(np.int64)[:, None] + d[:, 1]).ravel()
        cells = np.unique(np.stack([uk, ut], axis=1), axis=0)  # the +-1 neighbourhood
        counts = np.zeros(self.frames + 2 * PAD, np.int64)
        for k in np.unique(cells[:, 0]):
            if k < 0 or k + 1 >= self.starts.size:
                continue
            c = self.t[self.starts[k] : self.starts[k + 1]]
            u = cells[cells[:, 0] == k, 1]
            if c.size and u.size:
                votes = (c[:, None] - u[None, :]).ravel() + PAD
                counts += np.bincount(votes, minlength=counts.size)[: counts.size]
        cs = np.concatenate([[0.0], np.cumsum(counts, dtype=np.float64)])
        pos = np.arange(counts.size)
        lo = np.clip(pos - BASELINE // 2, 0, counts.size)
        hi = np.clip(pos + BASELINE // 2 + 1, 0, counts.size)
        mean = (cs[hi] - cs[lo]) / (hi - lo)
        return (counts - mean) / np.sqrt(mean + 1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("index_dir", type=Path)
    ap.add_argument("--pps", type=float, default=300.0, help="upload peaks per second")
    ap.add_argument("--every-negative", type=int, default=3, help="every K-th negative")
    args = ap.parse_args()
    names = [p.name for p in args.index_dir.glob("seg-*")]
    cat = Catalogue(LandmarkIndex.open(args.index_dir, names))
    with open(args.corpus / "queries.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    remixes = [q for q in rows if q["kind"] == "remix"]
    negatives = [q for q in rows if q["kind"] == "negative"][:: args.every_negative]
    best_negative, cpu = [], []
    for q in remixes + negatives:
        t0 = time.process_time()
        x = decode(args.corpus / q["path"], sample_rate=L.SAMPLE_RATE, backend="soundfile")
        z = cat.scores(x.samples, pps=args.pps)
        cpu.append(time.process_time() - t0)
        if q["kind"] == "negative":
            best_negative.append(float(z.max()))
            print(f"{q['query_id']:12s} negative  best z {z.max():5.1f}", flush=True)
            continue
        prm = json.loads(q["params"])
        track = cat.ids.index(q["expected_ids"])
        lag_s = prm["cat_offset_s"] - prm["query_offset_s"]
        g = int(np.rint(cat.bases[track] + lag_s / L.FRAME_S))
        at = float(z[g + PAD - 3 : g + PAD + 4].max())
        print(f"{q['query_id']:12s} {prm['rel_db']:+6.1f} dB  z at the label {at:5.1f}  "
              f"offsets scoring higher {int((z > at).sum()):7d}", flush=True)  # fmt: skip
    print(f"negatives, best z: {sorted(np.round(best_negative, 1).tolist(), reverse=True)[:8]}")
    print(
        f"CPU per query (decode included): median {np.median(cpu):.1f} s over "
        f"{len(cat.ids)} catalogue tracks"
    )


if __name__ == "__main__":
    main()
