"""same_audio precision and recall on the development corpus's bulk log, whole and by
account-hash halves (CRC32 of the account id even: calibration, odd: held out), in
process, with knobs of the history thresholds overridden.

    python scripts/score_bulk_halves.py ../eval-cache/corpus/dev/bulk
    python scripts/score_bulk_halves.py ../eval-cache/corpus/dev/bulk \\
        --set same_duration_min_releases=4 --set same_duration_min_titles=3

Only the two same-audio patterns (exact file hash, agreeing durations) are run; the
harness (docs/benchmarks.md, issue 6) scores every pattern through the CLI.
"""

from __future__ import annotations

import argparse
import csv
import json
import zlib
from pathlib import Path

from compliance.history import patterns
from compliance.history.records import parse_release
from compliance.history.store import releases_frame
from compliance.history.thresholds import KNOBS, with_overrides


def _knob(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or name not in KNOBS:
        raise argparse.ArgumentTypeError(f"expected KNOB=VALUE with KNOB one of {KNOBS}")
    return name, value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bulk", type=Path, help="the corpus's bulk folder (releases.jsonl, labels.csv)")
    ap.add_argument("--set", action="append", default=[], type=_knob, metavar="KNOB=VALUE")
    a = ap.parse_args()
    th = with_overrides(dict(a.set))
    with open(a.bulk / "releases.jsonl", encoding="utf-8") as fh:
        rows = [parse_release(json.loads(line), line=n) for n, line in enumerate(fh, 1)]
    df = releases_frame(rows)
    with open(a.bulk / "labels.csv", encoding="utf-8") as fh:
        labels = {
            r["release_id"]: (r["account_id"], set(filter(None, r["patterns"].split(";"))))
            for r in csv.DictReader(fh)
        }
    got = {f.release_id for f in patterns.same_audio(df, th) + patterns.same_duration(df, th)}
    for half in ("whole", "calibration", "held_out"):
        ids = [
            k for k, (acc, _p) in labels.items()
            if half == "whole" or (zlib.crc32(acc.encode()) % 2 == 0) == (half == "calibration")
        ]  # fmt: skip
        pos = {k for k in ids if "same_audio" in labels[k][1]}
        normal = {k for k in ids if not labels[k][1]}
        flagged = got.intersection(ids)
        tp = len(flagged & pos)
        print(
            f"{half:12s} n={len(pos):4d} precision={tp / max(1, len(flagged)):.3f} "
            f"recall={tp / max(1, len(pos)):.3f} normal_flagged={len(flagged & normal)} "
            f"of {len(normal)}"
        )


if __name__ == "__main__":
    main()
