#!/usr/bin/env python3
"""AI detector speed and its results by clip length (docs/benchmarks.md, issue 5).

    python scripts/bench_ai.py [--corpus DIR] [--runs 5]

* **Speed**: CPU seconds of :class:`compliance.detectors.ai.AIDetector` (the high-rate
  decode of its windows, the features, the model) per minute of audio, on a 60 s and a
  240 s synthetic file, median of ``--runs`` runs, one thread.
* **Clip length** (with ``--corpus``, an evaluation corpus built by shared/eval): the
  ``ai_generated`` / ``ai_control`` queries cut to their first 5 s, whole (10.24 s), and
  30 s files made of three queries of the same subkind one after the other; ROC-AUC per
  subkind pair and the share flagged at the policy's review threshold. The corpus is only
  measured here, never trained on.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from scipy.stats import rankdata  # noqa: E402

from compliance.detectors.ai import AIDetector  # noqa: E402
from compliance.detectors.base import ScanContext  # noqa: E402
from compliance.domain import ReleaseMetadata  # noqa: E402
from compliance.policy import load_policy  # noqa: E402
from compliance.synth import synth_piece  # noqa: E402
from fingerprints.audio import decode, write_wav  # noqa: E402


def ctx_of(path: Path) -> ScanContext:
    clip = decode(path, sample_rate=11025, backend="soundfile")
    return ScanContext(str(path), clip, "sha256:bench", ReleaseMetadata(), lambda s: [],
                       lambda c: None)  # fmt: skip


def strength(det: AIDetector, path: Path) -> float | None:
    ev = det.run(ctx_of(path))
    return ev[0].strength if ev else None


def auc(pos: list[float], neg: list[float]) -> float:
    if not pos or not neg:
        return float("nan")
    r = rankdata(np.concatenate([pos, neg]))
    return float((r[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def review_threshold() -> float:
    pol = load_policy(ROOT / "policies" / "default.yaml")
    return float(pol.thresholds()["undisclosed-ai.min_strength"]["value"])


def speed(det: AIDetector, runs: int, tmp: Path) -> dict:
    out = {}
    for minutes in (1, 4):
        p = tmp / f"speed_{minutes}.wav"
        write_wav(p, synth_piece(99, 60.0 * minutes, sample_rate=44100), 44100)
        det.run(ctx_of(p))  # warm-up (model load, caches)
        cpu = []
        for _ in range(runs):
            ctx = ctx_of(p)  # the scan's own 11025 Hz decode is not counted
            t0 = time.process_time()
            det.run(ctx)
            cpu.append(time.process_time() - t0)
        med = float(np.median(cpu))
        out[f"{minutes}_min_file"] = dict(cpu_s=round(med, 3),
                                           cpu_s_per_audio_min=round(med / minutes, 3))  # fmt: skip
    return out


def by_length(det: AIDetector, corpus: Path, tmp: Path, thr: float) -> dict:
    with open(corpus / "queries.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["kind"] in ("ai_generated", "ai_control")]
    res: dict[str, dict] = {}
    scores: dict[str, dict[str, list[float]]] = {"5s": {}, "10s": {}, "30s": {}}
    by_sub: dict[str, list[np.ndarray]] = {}
    for r in rows:
        p = corpus / r["path"]
        x = decode(p, sample_rate=44100).samples
        by_sub.setdefault(r["subkind"], []).append(x)
        s10 = strength(det, p)
        cut = tmp / "cut.wav"
        write_wav(cut, x[: 5 * 44100], 44100)
        s5 = strength(det, cut)
        for k, s in (("5s", s5), ("10s", s10)):
            scores[k].setdefault(r["subkind"], []).append(0.0 if s is None else s)
    for sub, xs in by_sub.items():
        for i in range(0, len(xs) - 2, 3):
            p = tmp / "cat.wav"
            write_wav(p, np.concatenate(xs[i : i + 3]), 44100)
            s = strength(det, p)
            scores["30s"].setdefault(sub, []).append(0.0 if s is None else s)
    for length, per in scores.items():
        pos_clean, pos_mp3 = per.get("riffusion_style", []), per.get("riffusion_style_mp3", [])
        neg = [v for k, vs in per.items() if not k.startswith("riffusion") for v in vs]
        res[length] = dict(
            roc_auc_clean=round(auc(pos_clean, neg), 4),
            roc_auc_mp3=round(auc(pos_mp3, neg), 4),
            flagged_at_review_threshold={k: round(float(np.mean(np.array(v) >= thr)), 3)
                                         for k, v in sorted(per.items())},
            n={k: len(v) for k, v in sorted(per.items())},
        )  # fmt: skip
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    det = AIDetector()
    thr = review_threshold()
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        report = {"model_sha256": det.model.sha256, "review_threshold": thr,
                  "speed": speed(det, a.runs, tmp)}  # fmt: skip
        print(json.dumps(report["speed"]), flush=True)
        if a.corpus:
            report["by_clip_length"] = by_length(det, a.corpus, tmp, thr)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
