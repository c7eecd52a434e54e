"""Per-stage CPU cost of the catalogue ingest, in audio-seconds per CPU-second.

Usage::

    PYTHONPATH=. python scripts/bench_ingest.py [FILES_OR_FOLDERS...] [--runs 3] [--cli]

Without paths, 16 synthetic 60 s tracks are written as 44.1 kHz mono FLAC to a temporary
folder (never into the repository). Each run ingests every file into a fresh store with
:func:`compliance.pipeline.ingest.ingest`, timing each stage by wrapping the functions the
ingest calls (hash, decode, peaks, triplets, chromaprint, segment write, database); a
second pass splits the decode and the peak picking into their parts on the same files.
``--cli`` also runs ``python -m compliance catalogue add`` as a process (start-up and
imports included, as the benchmark harness does) and reports its user+system CPU time.
The figures are medians over ``--runs`` runs; CPU time is ``time.process_time``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

AUDIO_EXT = {".flac", ".wav", ".mp3", ".ogg"}


def _files(paths: list[str], tmp: Path) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_EXT)
        elif p.suffix == ".csv":
            import csv

            with open(p, newline="") as fh:
                out += [p.parent / r["path"] for r in csv.DictReader(fh)]
        else:
            out.append(p)
    if out:
        return out
    import soundfile as sf

    rng = np.random.default_rng(7)
    sr = 44100
    for i in range(16):
        n = 60 * sr
        t = np.arange(n) / sr
        x = np.zeros(n, np.float64)
        for _ in range(12):  # sparse tones with random onsets, a little noise
            f = rng.uniform(100, 4000)
            on = rng.integers(0, n - sr)
            ln = rng.integers(sr // 4, 3 * sr)
            x[on : on + ln] += 0.1 * np.sin(2 * np.pi * f * t[on : on + ln])
        x += 0.01 * rng.standard_normal(n)
        f = tmp / f"synth_{i:02d}.flac"
        sf.write(str(f), (x / max(1.0, np.abs(x).max())).astype(np.float32), sr)
        out.append(f)
    return out


class _Timer:
    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)

    def wrap(self, stage: str, fn):
        def timed(*a, **k):
            t0 = time.process_time()
            try:
                return fn(*a, **k)
            finally:
                self.cpu[stage] += time.process_time() - t0

        return timed


def run_ingest(files: list[Path]) -> tuple[dict[str, float], float]:
    """One ingest into a fresh store; CPU seconds per stage and the audio seconds."""
    import compliance.pipeline.ingest as ing
    from compliance.storage import Store
    from fingerprints import chromaprint, landmarks

    tm = _Timer()
    saved = []

    def patch(obj, name, stage):
        saved.append((obj, name, getattr(obj, name)))
        setattr(obj, name, tm.wrap(stage, getattr(obj, name)))

    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as home:
        store = Store(f"sqlite:///{home}/c.db")
        t0 = time.process_time()
        store.migrate()
        tm.cpu["db_migrate"] = time.process_time() - t0
        patch(ing, "content_hash", "hash")
        patch(ing, "decode", "decode")
        patch(landmarks, "extract_peak_sets", "peaks")
        patch(ing.cover, "analyse", "cover_spectrum")
        patch(landmarks, "hash_triplets", "triplets")
        patch(chromaprint, "fingerprint", "chromaprint")
        patch(ing, "write_segment", "segment_write")
        patch(ing, "compact", "compact")
        for m in ("ingest_catalogue", "put_signal", "find_track_by_hash", "get_track"):
            patch(store, m, "db")
        items = [ing.IngestItem(f, f"t{i:05d}") for i, f in enumerate(files)]
        try:
            t0 = time.process_time()
            rep = ing.ingest(
                items,
                store=store,
                index_dir=Path(home) / "index",
                max_duration_s=1800,
                max_bytes=1 << 30,
            )
            tm.cpu["ingest_total"] = time.process_time() - t0
        finally:
            for obj, name, fn in reversed(saved):
                setattr(obj, name, fn)
            store.close()
        assert not rep.failed, rep.failed
    audio_s = sum(_duration(f) for f in files)
    return dict(tm.cpu), audio_s


def _duration(f: Path) -> float:
    import soundfile as sf

    info = sf.info(str(f))
    return info.frames / info.samplerate


def run_parts(files: list[Path]) -> dict[str, float]:
    """Sub-stages of decode and of peak picking (same calls as the pipeline)."""
    import soundfile as sf
    import soxr
    from scipy.ndimage import maximum_filter

    from fingerprints import landmarks as lm

    cpu: dict[str, float] = defaultdict(float)

    def tick(stage, t0):
        t1 = time.process_time()
        cpu[stage] += t1 - t0
        return t1

    for f in files:
        t = time.process_time()
        data, sr = sf.read(str(f), dtype="float32", always_2d=True)
        t = tick("decode.read", t)
        mono = np.ascontiguousarray(data[:, 0]) if data.shape[1] == 1 else data.mean(axis=1)
        t = tick("decode.downmix", t)
        y = soxr.resample(mono, sr, lm.SAMPLE_RATE, quality="HQ") if sr != lm.SAMPLE_RATE else mono
        y = np.ascontiguousarray(y, dtype=np.float32)
        t = tick("decode.resample", t)
        hz = lm.SAMPLE_RATE / lm.N_FFT
        lo = max(1, int(np.ceil(lm.F_REF_HZ / hz)))
        hi = min(lm.N_FFT // 2 - 1, int(lm.F_MAX_HZ / hz))
        if hasattr(lm, "_peak_candidates"):  # the compiled candidate search
            band = lm._log_spectrum(y, lo - 1, hi + 2)
            t = tick("peaks.spectrogram", t)
            threshold = np.ascontiguousarray(lm._row_median(band)[:, 0] + 6.0, np.float32)
            t = tick("peaks.median", t)
            room = np.empty(lm._CANDIDATES_PER_FRAME * band.shape[0], np.intp)
            lm._peak_candidates(band, threshold, np.float32(-72.0), 5, 9, room, room.copy())
            t = tick("peaks.candidates", t)
        elif hasattr(lm, "_local_max"):  # the numpy local maximum (before 2026-12-07)
            band = lm._log_spectrum(y, lo - 1, hi + 2)
            t = tick("peaks.spectrogram", t)
            lm._local_max(band, 5, 9)
            t = tick("peaks.maximum_filter", t)
            lm._row_median(band)
            t = tick("peaks.median", t)
        else:  # the code before it (for before/after figures)
            band = lm.log_spectrogram(y)[:, lo - 1 : hi + 2]
            t = tick("peaks.spectrogram", t)
            maximum_filter(band, size=(11, 19), mode="nearest")
            t = tick("peaks.maximum_filter", t)
            np.median(band, axis=1, keepdims=True)
            t = tick("peaks.median", t)
    return dict(cpu)


def _cli_cpu(home: str, *args: str) -> float:
    """CPU seconds (user + system) of ``python -m compliance ARGS`` in ``home``."""
    env = dict(os.environ, COMPLIANCE_HOME=home)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, "-m", "compliance", *args],
        env=env,
        cwd=home,  # not the repository: PYTHONPATH decides which code runs
        check=True,
        capture_output=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run_cli(files: list[Path]) -> float:
    """CPU seconds of ``python -m compliance catalogue add --manifest``."""
    with tempfile.TemporaryDirectory(prefix="bench_cli_") as home:
        man = Path(home) / "catalogue.csv"
        man.write_text(
            "path,id\n" + "".join(f"{f.resolve()},c{i:05d}\n" for i, f in enumerate(files))
        )
        return _cli_cpu(home, "catalogue", "add", "--manifest", str(man), "--quiet")


def run_startup() -> float:
    """CPU seconds of ``python -m compliance catalogue list`` on an empty store."""
    with tempfile.TemporaryDirectory(prefix="bench_start_") as home:
        return _cli_cpu(home, "catalogue", "list")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", help="audio files, folders or a manifest CSV")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cli", action="store_true", help="also time the CLI as a process")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_audio_") as tmp:
        files = _files(args.paths, Path(tmp))
        runs: dict[str, list[float]] = defaultdict(list)
        audio_s = 0.0
        for _ in range(args.runs):
            cpu, audio_s = run_ingest(files)
            for k, v in cpu.items():
                runs[k].append(v)
            for k, v in run_parts(files).items():
                runs[k].append(v)
            if args.cli:
                runs["cli_startup(list)"].append(run_startup())
                runs["cli_add_total"].append(run_cli(files))
        print(f"{len(files)} files, {audio_s:.1f} audio-s, median of {args.runs} runs")
        print(f"{'stage':24s} {'CPU s':>8s} {'audio-s/CPU-s':>14s}")
        for k, v in runs.items():
            med = statistics.median(v)
            rate = audio_s / med if med > 0 else float("inf")
            print(f"{k:24s} {med:8.3f} {rate:14.0f}")


if __name__ == "__main__":
    main()
