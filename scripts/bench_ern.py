"""Median parse time of the DDEX ERN sample messages (goal: under 50 ms each).

Usage: python scripts/bench_ern.py [--runs 50] [FILE...]

Without files it times every ``*.xml`` in ``shared/ddex`` beside the repository
(``COMPLIANCE_DDEX_DIR`` overrides). A printed figure, not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compliance.intake import parse_ern

DDEX_DIR = Path(
    os.environ.get("COMPLIANCE_DDEX_DIR") or Path(__file__).resolve().parents[2] / "shared/ddex"
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args()
    files = args.files or sorted(DDEX_DIR.glob("*.xml"))
    if not files:
        sys.exit(f"no ERN files given and none in {DDEX_DIR}")
    for path in files:
        data = path.read_bytes()
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            msg = parse_ern(data)
            times.append(time.perf_counter() - t0)
        median_ms = statistics.median(times) * 1000
        print(
            f"{path.name}: {len(data) / 1024:.0f} KiB, ERN {msg.version}, "
            f"{len(msg.sound_recordings)} recordings: median {median_ms:.1f} ms, "
            f"max {max(times) * 1000:.1f} ms over {args.runs} runs"
        )


if __name__ == "__main__":
    main()
