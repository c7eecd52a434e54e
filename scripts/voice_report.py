#!/usr/bin/env python3
"""Voice figures the harness does not split out (docs/benchmarks.md, issue 7).

    python scripts/voice_report.py --corpus DIR --results RESULTS.json   # from score.py --out
    python scripts/voice_report.py --corpus DIR --instrumental          # runs the product

* ``--results``: EER and open-set identification recall (at 1 % / 5 % of the impostor
  probes of the same condition) per condition (clean probes, probes under music), and
  EER by the family of the probe's voice (hedgewars recordings, TTS), from the findings
  of a ``score.py --kinds voice --out`` run. Uses the harness's own ``metrics.eer`` and
  ``metrics.threshold_at_fpr``.
* ``--instrumental``: enrols the corpus's protected voices with ``compliance bank import``
  into a fresh ``COMPLIANCE_HOME`` and checks every ``negative`` and ``ai_control``
  query (real music without voice) with ``compliance check --json``; prints the share
  with ``voice_clone`` evidence at several strengths.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _rows(corpus: Path, kinds: set[str]) -> list[dict]:
    with (corpus / "queries.csv").open(newline="") as f:
        return [r for r in csv.DictReader(f) if r["kind"] in kinds]


def split_report(corpus: Path, results: Path, eval_dir: Path) -> dict:
    sys.path.insert(0, str(eval_dir))
    from metrics import eer, threshold_at_fpr

    F = json.loads(results.read_text())["findings"]
    rows = _rows(corpus, {"voice"})
    with (corpus / "voice_enrol.csv").open(newline="") as f:
        enrolled = sorted({r["voice_id"] for r in csv.DictReader(f)})

    def scores(r):
        return {
            f["voice_id"]: f["score"] for f in F.get(r["query_id"], []) if f.get("kind") == "voice"
        }

    out: dict = {}
    for cond in ("clean", "music"):
        sel = [r for r in rows if cond in r["subkind"]]
        tgt, non, pos, neg = [], [], [], []
        for r in sel:
            fl = scores(r)
            for v in enrolled:
                (tgt if v == r["expected_ids"] else non).append(fl.get(v, -math.inf))
            best = max(fl.values()) if fl else -math.inf
            (pos if r["expected_ids"] else neg).append((best, fl, r))
        res = {"eer": round(eer(tgt, non)[0], 3), "target_trials": len(tgt),
               "nontarget_trials": len(non)}  # fmt: skip
        for a in (0.01, 0.05):
            t = threshold_at_fpr([b for b, _, _ in neg], a)
            hits = [b > t and max(fl, key=fl.get) == r["expected_ids"] for b, fl, r in pos if fl]
            res[f"open_set_id_recall@fpr{a}"] = round(sum(hits) / max(1, len(pos)), 3)
        by_family = {}
        for fam in ("hw", "tts"):
            t2, n2 = [], []
            for r in sel:
                if json.loads(r["params"])["voice"].split(":")[0] != fam:
                    continue
                fl = scores(r)
                for v in enrolled:
                    (t2 if v == r["expected_ids"] else n2).append(fl.get(v, -math.inf))
            if t2 and n2:
                by_family[fam] = round(eer(t2, n2)[0], 3)
        res["eer_by_probe_family"] = by_family
        out[cond] = res
    return out


def instrumental_report(corpus: Path) -> dict:
    prog = str(ROOT / ".venv" / "bin" / "compliance")
    home = tempfile.mkdtemp(prefix="voice-instrumental-")
    env = dict(os.environ, COMPLIANCE_HOME=home)
    with (corpus / "voice_enrol.csv").open(newline="") as f:
        by: dict[str, list[str]] = {}
        for r in csv.DictReader(f):
            by.setdefault(r["voice_id"], []).append(str(corpus / r["path"]))
    for vid, paths in by.items():
        subprocess.run([prog, "bank", "import", "--kind", "protected_voice", "--id", vid, *paths],
                       env=env, check=False, capture_output=True)  # fmt: skip
    queries = _rows(corpus, {"negative", "ai_control"})
    best = {}
    for i in range(0, len(queries), 50):
        files = [str(corpus / r["path"]) for r in queries[i : i + 50]]
        out = subprocess.run([prog, "check", "--json", *files], env=env, capture_output=True,
                             text=True).stdout  # fmt: skip
        for line in out.splitlines():
            if line.startswith("{"):
                d = json.loads(line)
                best[d["file"]] = max(
                    (e["strength"] for e in d["evidence"] if e["kind"] == "voice_clone"),
                    default=0.0,
                )
    v = np.array(list(best.values()))
    return {
        "files": int(v.size),
        "share_with_voice_evidence": {
            str(t): round(float(np.mean(v >= t)), 4) for t in (0.5, 0.86)
        },
        "max_strength": round(float(v.max()), 3) if v.size else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--results", type=Path)
    ap.add_argument("--instrumental", action="store_true")
    ap.add_argument("--eval-dir", type=Path, default=ROOT.parent / "shared" / "eval")
    args = ap.parse_args()
    report = {}
    if args.results:
        report["by_condition"] = split_report(args.corpus, args.results, args.eval_dir)
    if args.instrumental:
        report["instrumental"] = instrumental_report(args.corpus)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
