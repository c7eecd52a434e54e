"""Fit the voice-similarity calibration (compliance/voices/calibration.json).

Uses only enrolment material (reference recordings of protected voices; never probes)
and catalogue music:

1. Every chunk is embedded clean and once mixed under a random excerpt of a
   catalogue track at a voice-to-music ratio drawn from [-6, +6] dB (seeded), the way an
   upload carries a voice under music.
2. References are cut into chunks of one upload window (6.4 s); a voice's even chunks
   make its print, its odd chunks are target trials, the odd chunks of every other
   voice impostor trials. The Z-norm cohort of a print is the even chunks of the other
   voices (as at run time, where the cohort is the windows of the rest of the bank), so
   no impostor trial is also a cohort member.
3. The prior impostor mean and spread are the pooled cohort statistics; the logistic
   ``strength = 1 / (1 + exp(-(slope * z + offset)))`` is fitted on the Z-normalised
   trials with both classes weighted equally, so a strength of 0.5 is the point where a
   target and an impostor are equally likely at even odds.

Run::

    python scripts/calibrate_voice.py --enrol CORPUS/voice_enrol.csv \\
        --music CORPUS/catalogue.csv --out compliance/voices/calibration.json
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fingerprints import ge2e  # noqa: E402
from fingerprints import voice as fvoice  # noqa: E402
from fingerprints.audio import decode  # noqa: E402

sys.path.insert(0, str(ROOT / "scripts"))
from train_voice_presence import excerpt, mix  # noqa: E402  (the same mixing as training)


def _rows(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


CHUNK_S = 6.4
"""References are cut into chunks of one upload window (4 partials of 1.6 s)."""


def embed_all(enrol: list[dict], music_paths: list[Path], base: Path, seed: int):
    """(voice_id, chunk number, condition, embedding) for every voiced chunk of every
    reference, clean and mixed under music."""
    rng = np.random.default_rng(seed)
    beds = []
    for p in rng.permutation(music_paths)[:20]:
        try:
            beds.append(decode(p, sample_rate=ge2e.SAMPLE_RATE, max_duration_s=900).samples)
        except Exception as exc:  # a bad catalogue file is only skipped
            print(f"skip music {p}: {exc}", file=sys.stderr)
    out = []
    n = round(CHUNK_S * ge2e.SAMPLE_RATE)
    chunk_no: dict[str, int] = defaultdict(int)
    for r in enrol:
        p = Path(r["path"])
        p = p if p.is_absolute() else base / p
        x = decode(p, sample_rate=ge2e.SAMPLE_RATE, max_duration_s=600).samples
        for start in range(0, max(1, x.size - n // 2), n):
            piece = x[start : start + n]
            a = fvoice.analyse(piece)
            if not a.has_voice:
                continue
            i = chunk_no[r["voice_id"]]
            chunk_no[r["voice_id"]] += 1
            out.append((r["voice_id"], i, "clean", a.embedding))
            if beds:
                bed = beds[int(rng.integers(len(beds)))]
                bed_piece = excerpt(bed, piece.size / ge2e.SAMPLE_RATE, rng)
                b = fvoice.analyse(mix(piece, bed_piece[: piece.size], float(rng.uniform(-6, 6))))
                if b.has_voice:
                    out.append((r["voice_id"], i, "music", b.embedding))
    return out


def trials(embs):
    """Target and impostor trials: prints from the even chunks of each voice, trials
    from the odd ones; each print's cohort is the other voices' even clean chunks."""
    by = defaultdict(list)
    for vid, i, cond, e in embs:
        by[vid].append((i, cond, e))
    prints, cohorts = {}, {}
    for vid, items in by.items():
        a = [e for i, c, e in items if i % 2 == 0 and c == "clean"]
        if a:
            prints[vid] = fvoice.voice_print(np.stack(a))
    for vid, pv in prints.items():
        cohort = [e for u, items in by.items() if u != vid
                  for i, c, e in items if i % 2 == 0 and c == "clean"]  # fmt: skip
        cohorts[vid] = np.stack(cohort) @ pv if cohort else np.zeros(0)
    rows = []  # (cosine, target, print voice, condition)
    for u, items in by.items():
        for i, c, e in items:
            if i % 2 == 1:
                rows.extend((float(e @ pv), vid == u, vid, c) for vid, pv in prints.items())
    return rows, cohorts


def eer(tgt: np.ndarray, non: np.ndarray) -> float:
    thr = np.unique(np.concatenate([tgt, non]))
    best = 1.0
    for t in thr:
        fr, fa = np.mean(tgt < t), np.mean(non >= t)
        best = min(best, max(fr, fa))
    return float(best)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--enrol", type=Path, required=True, help="CSV voice_id,path")
    ap.add_argument("--music", type=Path, required=True, help="CSV with a path column")
    ap.add_argument("--out", type=Path, default=ROOT / "compliance" / "voices" / "calibration.json")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--prior-weight", type=float, default=20.0)
    args = ap.parse_args()
    from sklearn.linear_model import LogisticRegression

    enrol = _rows(args.enrol)
    music = [args.music.parent / r["path"] for r in _rows(args.music)]  # absolute paths stay
    embs = embed_all(enrol, music, args.enrol.parent, args.seed)
    rows, cohorts = trials(embs)
    pooled = np.concatenate([c for c in cohorts.values() if c.size])
    prior = fvoice.Calibration(
        prior_mean=float(pooled.mean()), prior_sd=float(pooled.std()),
        prior_weight=args.prior_weight, slope=1.0, offset=0.0, source="",
    )  # fmt: skip
    stats = {v: fvoice.cohort_stats(c, prior) for v, c in cohorts.items()}
    cos = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows])
    z = np.array([(r[0] - stats[r[2]][0]) / stats[r[2]][1] for r in rows])
    lr = LogisticRegression(class_weight="balanced").fit(z[:, None], y)
    strength = lr.predict_proba(z[:, None])[:, 1]
    report = {}
    for a in (0.01, 0.05):
        report[f"strength_at_impostor_fpr{a}"] = round(float(np.quantile(strength[~y], 1 - a)), 4)
    for cond in ("clean", "music"):
        m = np.array([r[3] == cond for r in rows])
        if m.any() and y[m].any():
            report[cond] = {
                "eer_raw_cosine": round(eer(cos[m & y], cos[m & ~y]), 4),
                "eer_znorm": round(eer(z[m & y], z[m & ~y]), 4),
                "target_recall_at_strength_0.5": round(float(np.mean(strength[m & y] >= 0.5)), 4),
                "target_trials": int((m & y).sum()),
                "impostor_trials": int((m & ~y).sum()),
            }
    out = {
        "prior_mean": round(prior.prior_mean, 5),
        "prior_sd": round(prior.prior_sd, 5),
        "prior_weight": args.prior_weight,
        "slope": round(float(lr.coef_[0, 0]), 5),
        "offset": round(float(lr.intercept_[0]), 5),
        "source": (
            f"scripts/calibrate_voice.py on {args.enrol.name} (enrolment references only, "
            f"{len({r['voice_id'] for r in enrol})} voices, 6.4 s chunks, even chunks the print, "
            f"odd chunks the trials, clean and mixed under catalogue music at -6..+6 dB), "
            f"seed {args.seed}, {date.today().isoformat()}"
        ),
        "fit": report,
        "encoder": ge2e.MODEL_VERSION,
        "analysis": fvoice.VERSION,
    }
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
