"""How the Chromaprint lookup keys of ``duplicate_across_accounts`` separate copies from
unrelated audio on the development corpus (issue 6; docs/benchmarks.md).

    python scripts/measure_audio_keys.py ../eval-cache/corpus/dev [--workers 2]

Fingerprints the catalogue and the duplicate and negative queries, and prints, for the
rule's thresholds (the policy's ``fingerprint_min_shared_keys`` and
``fingerprint_min_containment``), how many unrelated pairs (every negative against every
catalogue track, per half of the hash split of ``scripts/calibrate.py``) and how many
copies of each kind pass. A printed figure, not a test.
"""

from __future__ import annotations

import argparse
import csv
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from calibrate import half  # noqa: E402

from compliance.history.thresholds import Thresholds  # noqa: E402
from fingerprints import chromaprint as C  # noqa: E402
from fingerprints.audio import decode  # noqa: E402


def _keys(path: str) -> np.ndarray:
    return C.lookup_keys(C.fingerprint(decode(path)))


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    th = Thresholds()

    def found(shared_and_share: tuple[int, float]) -> bool:
        shared, share = shared_and_share
        return shared >= th.fingerprint_min_shared_keys and share >= th.fingerprint_min_containment

    cat = _rows(args.corpus / "catalogue.csv")
    qs = [q for q in _rows(args.corpus / "queries.csv") if q["kind"] in ("duplicate", "negative")]
    paths = [str(args.corpus / r["path"]) for r in cat + qs]
    with ProcessPoolExecutor(args.workers) as ex:
        keys = list(ex.map(_keys, paths, chunksize=8))
    ref = {r["catalogue_id"]: k for r, k in zip(cat, keys[: len(cat)], strict=True)}
    print(f"keys per catalogue track: median {np.median([len(k) for k in ref.values()]):.0f}")
    chance: dict[str, list[tuple[int, float]]] = {"calibration": [], "held-out": []}
    copies: dict[str, list[bool]] = {}
    for q, k in zip(qs, keys[len(cat) :], strict=True):
        if q["kind"] == "negative":
            chance[half(q["query_id"])] += [C.key_containment(k, r) for r in ref.values()]
        else:
            expected = ref[q["expected_ids"].split(";")[0]]
            copies.setdefault(q["subkind"], []).append(found(C.key_containment(k, expected)))
    for h, pairs in chance.items():
        most = max(s for s, _ in pairs)
        largest = max(f for _, f in pairs)
        print(f"unrelated pairs, {h} half: {sum(map(found, pairs))} of {len(pairs)} found; "
              f"most keys shared {most}, largest share {largest:.3f}")  # fmt: skip
    for kind, got in sorted(copies.items()):
        print(f"copies {kind}: {sum(got)} of {len(got)} found")


if __name__ == "__main__":
    main()
