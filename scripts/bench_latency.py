"""Latency of checking one upload against an ingested catalogue, decoding excluded.

Usage: COMPLIANCE_HOME=STATE python scripts/bench_latency.py [--seconds 240] FILE...

Each file is decoded once (first ``--seconds`` seconds, timed separately), then the
detectors and the policy run on it (what `compliance check` does after decoding) with
the index already open. Prints the median and the slowest run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compliance.app import App
from compliance.detectors.base import ScanContext
from compliance.domain import ReleaseMetadata
from fingerprints import landmarks
from fingerprints.audio import decode


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+")
    ap.add_argument("--seconds", type=float, default=240.0)
    a = ap.parse_args()
    app = App()
    scanner = app.scanner(record=False)
    print(f"catalogue: {len(scanner.catalogue)} tracks, {scanner.catalogue.stats()}")
    decode_s, check_s = [], []
    for f in a.files:
        t0 = time.perf_counter()
        clip = decode(f, sample_rate=landmarks.SAMPLE_RATE, duration_s=a.seconds)
        t1 = time.perf_counter()
        ctx = ScanContext(f, clip, "sha256:bench", ReleaseMetadata(), scanner.catalogue.search,
                          scanner._chromaprint_of)  # fmt: skip
        evidence = [e for d in scanner.detectors for e in d.run(ctx)]
        scanner.policy.evaluate(evidence)
        t2 = time.perf_counter()
        decode_s.append(t1 - t0)
        check_s.append(t2 - t1)
        print(f"{Path(f).name}: {clip.duration_s:.0f} s audio, decode {t1 - t0:.3f} s, "
              f"check {t2 - t1:.3f} s")  # fmt: skip
    print(f"median check after decoding: {statistics.median(check_s):.3f} s "
          f"(max {max(check_s):.3f} s); median decode {statistics.median(decode_s):.3f} s; "
          f"n={len(check_s)}")  # fmt: skip


if __name__ == "__main__":
    main()
