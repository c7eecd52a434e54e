#!/usr/bin/env python3
"""Voice detector speed (docs/benchmarks.md, issue 7).

    python scripts/bench_voice.py [--runs 5]

* **Embedding**: CPU seconds of the voice analysis of an upload
  (:func:`fingerprints.voice.analyse`: 16 kHz decode excluded, vocal emphasis, voice
  activity, GE2E windows) per minute of audio, on 60 s and 240 s synthetic files with a
  talker under music (the emphasis runs) and on a dry talker, median of ``--runs``,
  one thread; with the time of each stage.
* **Search**: milliseconds of :meth:`compliance.voices.search.VoiceBankSnapshot.search`
  of one upload's windows against 10,000 enrolled voices (random unit prints with
  random impostor statistics), median of 200 queries; the first query, which builds the
  faiss index, is reported apart.
* **Enrolment into a large bank**: CPU seconds of the cohort refresh that follows an
  enrolment (:func:`compliance.voices.bank.refresh_cohorts` with ``changed``) in a
  SQLite bank of 10,000 voices with 3 references of 20 windows each (random unit
  vectors, full cohorts), and the full refresh of every voice (what each enrolment did
  before) in a bank of 2,000.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from compliance.voices.bank import VoiceEntry  # noqa: E402
from compliance.voices.search import VoiceBankSnapshot  # noqa: E402
from fingerprints import ge2e  # noqa: E402
from fingerprints import voice as fvoice  # noqa: E402
from tests.audio_fixtures import tune, voice  # noqa: E402


def _cpu(f, *a, **k):
    t = time.process_time()
    out = f(*a, **k)
    return time.process_time() - t, out


def _signal(seconds: float, *, music: bool) -> np.ndarray:
    import librosa

    v = voice(1, seconds)
    if not music:
        return v
    m = librosa.resample(tune(3, seconds), orig_sr=22050, target_sr=16000)[: v.size]
    return (0.5 * v + 0.5 * m).astype(np.float32)


def bench_embedding(runs: int) -> dict:
    ge2e.default_encoder()
    fvoice.analyse(_signal(5.0, music=True))  # warm the caches (mel basis, numba)
    out = {}
    for seconds in (60.0, 240.0):
        for music in (True, False):
            x = _signal(seconds, music=music)
            total, emph = [], []
            a = None
            for _ in range(runs):
                dt, a = _cpu(fvoice.analyse, x)
                total.append(dt)
                if a.emphasis:
                    emph.append(_cpu(fvoice.vocal_emphasis, x)[0])
            key = f"{int(seconds)}s_{'under_music' if music else 'dry'}"
            out[key] = {
                "cpu_s_per_min": round(float(np.median(total)) * 60.0 / seconds, 3),
                "emphasis_cpu_s_per_min": round(float(np.median(emph)) * 60 / seconds, 3)
                if emph
                else 0.0,
                "voiced_s": round(a.voiced_s, 1),
                "windows": len(a.windows) if a else 0,
                "runs": runs,
            }
    return out


def bench_search(n_voices: int = 10_000, queries: int = 200, windows: int = 40) -> dict:
    rng = np.random.default_rng(0)
    prints = rng.standard_normal((n_voices, ge2e.EMBEDDING_SIZE)).astype(np.float32)
    prints /= np.linalg.norm(prints, axis=1, keepdims=True)
    entries = tuple(
        VoiceEntry(f"v{i}", None, (), {}, 5, float(rng.uniform(0.4, 0.7)), 0.08, 100, False, None)
        for i in range(n_voices)
    )
    snap = VoiceBankSnapshot(entries=entries, prints=prints)
    q = rng.standard_normal((queries, windows, ge2e.EMBEDDING_SIZE)).astype(np.float32)
    q /= np.linalg.norm(q, axis=2, keepdims=True)
    t = time.perf_counter()
    snap.search(q[0])
    first = time.perf_counter() - t
    times = []
    for i in range(1, queries):
        t = time.perf_counter()
        snap.search(q[i])
        times.append(time.perf_counter() - t)
    return {
        "voices": n_voices,
        "windows_per_query": windows,
        "median_ms": round(1000 * float(np.median(times)), 3),
        "p95_ms": round(1000 * float(np.percentile(times, 95)), 3),
        "first_query_ms_with_index_build": round(1000 * first, 2),
    }


def bench_refresh(
    n_voices: int = 10_000, *, refs: int = 3, windows: int = 20, full: bool = False
) -> dict:
    import tempfile

    from compliance.storage.models import VoicePrintRow, VoiceReferenceRow, utcnow
    from compliance.storage.store import Store
    from compliance.voices import bank

    rng = np.random.default_rng(1)

    def unit(*shape):
        v = rng.standard_normal((*shape, ge2e.EMBEDDING_SIZE)).astype(np.float32)
        return v / np.linalg.norm(v, axis=-1, keepdims=True)

    with tempfile.TemporaryDirectory() as d:
        store = Store(f"sqlite:///{d}/bench.db")
        store.create_all()
        now = utcnow()
        with store.session() as s, s.begin():
            for i in range(n_voices):
                w = unit(refs, windows)
                s.add(VoicePrintRow(
                    voice_id=f"v{i:05d}", authorised_accounts=[], consent={},
                    model_version=ge2e.MODEL_VERSION, embedding=bank.to_blob(unit()),
                    n_references=refs, added_at=now, updated_at=now,
                    cohort_mean=0.5, cohort_sd=0.1, cohort_size=bank.COHORT_MAX,
                ))  # fmt: skip
                for k in range(refs):
                    s.add(VoiceReferenceRow(
                        voice_id=f"v{i:05d}", content_hash=f"sha256:{i}-{k}", duration_s=30.0,
                        voiced_s=20.0, embedding=bank.to_blob(w[k].mean(0)),
                        windows=bank.to_blob(w[k]), added_at=now,
                    ))  # fmt: skip
        changed, runs = [], 5
        for i in range(runs):
            t = time.process_time()
            bank.refresh_cohorts(store, changed=f"v{i:05d}")
            changed.append(time.process_time() - t)
        out = {
            "voices": n_voices,
            "reference_windows": n_voices * refs * windows,
            "after_one_enrolment_median_cpu_s": round(float(np.median(changed)), 3),
        }
        if full:
            t = time.process_time()
            bank.refresh_cohorts(store)
            out["full_refresh_cpu_s"] = round(time.process_time() - t, 2)
        store.engine.dispose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    out = {"embedding": bench_embedding(args.runs), "search": bench_search(),
           "enrolment_refresh": [bench_refresh(), bench_refresh(2000, full=True)]}  # fmt: skip
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
