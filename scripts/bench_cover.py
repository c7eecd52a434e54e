"""Cover detector speed (issue 4): rescoring of 20 candidates for a 4-minute upload, and
the shortlist over 100,000 embeddings with an upload's real query rows, on one core.

    python scripts/bench_cover.py [--candidates 20] [--upload-s 240] [--repeats 5]

The audio is synthetic (compliance.synth pieces at 11025 Hz, seeded): alignment time
depends on the sequence lengths, not on what they hold. The rescoring is what
:meth:`fingerprints.index.cover_index.CoverIndex.search` does after the shortlist:
every candidate at one time scale on half-resolution sequences, the best 4 in full at
three, each on both chromas (cover signal 3). The shortlist time is
``scripts/bench_cover_index.py --dim SHORTLIST_DIM --query-rows ROWS`` with the
shortlist's dimension and the rows a 4-minute upload gives. Prints medians; not a test.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import faiss  # noqa: E402

from compliance.synth import synth_piece  # noqa: E402
from fingerprints import cover  # noqa: E402
from fingerprints import landmarks as L  # noqa: E402
from fingerprints.index.cover_index import CoverIndex, CoverSegment  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=20)
    ap.add_argument("--upload-s", type=float, default=240.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--skip-shortlist", action="store_true")
    args = ap.parse_args()
    faiss.omp_set_num_threads(1)  # also set by compliance/__init__.py; explicit for a bench
    sr = L.SAMPLE_RATE

    def seq(seed: int) -> cover.ChromaSequence:
        return cover.analyse(synth_piece(seed, args.upload_s, sample_rate=sr))[1]

    t = time.perf_counter()
    upload = seq(1)
    features_s = time.perf_counter() - t
    cat = {f"c{k}": seq(100 + k) for k in range(args.candidates)}
    index = CoverIndex([CoverSegment.build(cat)])
    index.search(upload, shortlist=args.candidates)  # warm-up (numba, faiss)
    times = []
    for _ in range(args.repeats):
        t = time.process_time()
        got = index.search(upload, shortlist=args.candidates)
        times.append(time.process_time() - t)
    rows = len(index.query_vectors(upload)[0])
    print(f"upload {args.upload_s:g} s: {upload.n_blocks} blocks; features (spectrogram + "
          f"chroma, first call) {features_s:.3f} s")  # fmt: skip
    print(f"search with {len(got)} candidates rescored (catalogue tracks of "
          f"{args.upload_s:g} s): median {statistics.median(times):.3f} CPU-s "
          f"(runs {', '.join(f'{x:.3f}' for x in times)}); goal <= 1 s")  # fmt: skip
    print(
        f"shortlist query rows of this upload: {rows}; shortlist dimension "
        f"{cover.SHORTLIST_DIM} (of the embedding's {cover.DIM})"
    )
    if not args.skip_shortlist:
        cmd = [sys.executable, str(ROOT / "scripts" / "bench_cover_index.py"),
               "--dim", str(cover.SHORTLIST_DIM), "--query-rows", str(rows)]  # fmt: skip
        print("$", " ".join(cmd[1:]), flush=True)
        return subprocess.call(cmd)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
