#!/usr/bin/env python3
"""Train the voice-presence model (fingerprints/models/voice_presence_v1.json).

    python scripts/train_voice_presence.py [--cache /work/voice-cache]

Everything is generated here, seeded, from what the project can produce or install;
nothing comes from the evaluation corpus (its speakers and music packages are avoided):

* **speech**: the recorded voice lines of Warzone 2100 (Debian ``warzone2100-data``,
  GPL-2+: the tutorial narrator, mission and console messages, VTOL radio, taunts;
  the corpus uses only ``warzone2100-music``), flite's ``slt`` voice (CMU ARCTIC) and
  espeak-ng voices in 14 languages and accents with a few variants (the corpus uses
  flite kal/awb/rms, festival kal and espeak-ng en-us, en+m3, en+f2, en+m7: none of
  them here) reading sentences written for this script; all concatenated with pauses
  into 6.4 s clips. Recorded and synthetic speech are weighted equally in the fit, so
  the model does not learn what synthesis sounds like;
* **music**: the tracks of ``singularity-music`` and ``pushover-data`` (Debian packages
  the corpus does not use; fetched and unpacked as in ``scripts/train_ai.py``) and the
  project's own synthesiser (:mod:`compliance.synth`);
* **voice under music**: each speech clip mixed under a music excerpt at a voice-to-
  music ratio drawn from [-6, +6] dB.

Every clip goes through :func:`fingerprints.voice.analyse` without the gate (so with the
same separation, voice activity and encoder as uploads); each window embedding is one
example (voice: speech and mixtures; no voice: music). The split is by source (speaker
or track): train 70 %, test 30 %; a logistic regression is fitted on train and its
window accuracy, and the share of music windows and music clips it lets through, are
measured on test and written to the card.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import numpy as np  # noqa: E402

from compliance.synth import synth_piece  # noqa: E402
from fingerprints import ge2e, voice_presence  # noqa: E402
from fingerprints import voice as fvoice  # noqa: E402
from fingerprints.audio import (  # noqa: E402
    AudioClip,
    decode,
    resample,
)

SEED = 20261202
SR = ge2e.SAMPLE_RATE
CLIP_S = 6.4
SENTENCES = (
    "The harbour lights were out by the time the last ferry came in.",
    "Please leave the parcel with the neighbour on the second floor.",
    "A thin layer of frost covered the windscreen every morning that week.",
    "They argued about the recipe until the soup was cold.",
    "Turn left after the bridge and follow the river for two miles.",
    "Nobody expected the old clock tower to chime again.",
    "My brother keeps bees on the roof of his apartment.",
    "The committee will publish its findings early next spring.",
    "She painted the fence green to match the garden gate.",
    "We counted forty seven gulls on the breakwater at noon.",
    "If the train is late again I will take the bus instead.",
    "The library closes at six on Saturdays and all day Sunday.",
    "He wrapped the fragile vase in three layers of newspaper.",
    "Our team finished the puzzle with only one piece missing.",
    "The storm knocked out the power for most of the valley.",
    "Fresh bread from the corner bakery sells out before eight.",
    "The pilot announced a short delay because of heavy fog.",
    "Keep the receipt in case the shoes do not fit.",
    "Every summer the village holds a race on wooden rafts.",
    "The museum bought a painting that nobody can explain.",
)
ESPEAK = (
    "en-gb-x-rp", "en-gb-scotland", "en-029", "en-us-nyc", "de", "fr-fr", "es", "it",
    "pt", "nl", "pl", "sv", "cs", "fi",
)  # fmt: skip
VARIANTS = ("", "+f3", "+m2")
VOICE_PACKAGE = "warzone2100-data"
VOICE_FOLDERS = ("audio/tutorial/", "audio/memressp/", "audio/vtoltalk/", "audio/taunts/",
                 "audio/countdown/", "audio/coltive/", "sequenceaudio/")  # fmt: skip
"""Folders of base.wz with speech; each (sub)folder is one group for the split."""
MUSIC_PACKAGES = ("singularity-music", "pushover-data")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def tts(cmd: list[str], out: Path) -> np.ndarray | None:
    r = subprocess.run(cmd, capture_output=True)
    if r.returncode != 0 or not out.exists():
        return None
    return decode(out, sample_rate=SR, max_duration_s=60).samples


def speech_clips(rng, cache: Path) -> list[tuple[str, np.ndarray]]:
    """(speaker, 6.4 s clip) pairs."""
    speakers = [("flite:slt", None)]
    speakers += [(f"espeak:{v}{var}", v + var) for v in ESPEAK for var in VARIANTS]
    out = []
    n = round(CLIP_S * SR)
    with tempfile.TemporaryDirectory() as td:
        wav = Path(td) / "s.wav"
        for name, voice in speakers:
            parts = []
            for text in rng.permutation(SENTENCES)[:6]:
                if voice is None:
                    x = tts(["flite", "-voice", "slt", "-t", str(text), "-o", str(wav)], wav)
                else:
                    x = tts(["espeak-ng", "-v", voice, "-s", str(int(rng.integers(130, 190))),
                             "-w", str(wav), str(text)], wav)  # fmt: skip
                if x is not None:
                    parts += [x, np.zeros(int(rng.uniform(0.1, 0.5) * SR), dtype=np.float32)]
            if not parts:
                log(f"no speech from {name}")
                continue
            y = np.concatenate(parts)
            out += [(name, y[s : s + n]) for s in range(0, y.size - n + 1, n)]
    return out


def recorded_speech(cache: Path, rng) -> list[tuple[str, np.ndarray]]:
    """(group, 6.4 s clip) pairs of Warzone 2100's recorded voice lines."""
    import zipfile

    debs, dest = cache / "debs", cache / "pkgs" / VOICE_PACKAGE
    debs.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        if not list(debs.glob(f"{VOICE_PACKAGE}_*.deb")):
            subprocess.run(["apt-get", "download", VOICE_PACKAGE], cwd=debs, check=True)
        deb = sorted(debs.glob(f"{VOICE_PACKAGE}_*.deb"))[-1]
        dest.mkdir(parents=True)
        subprocess.run(["dpkg", "-x", str(deb), str(dest)], check=True)
    wz = next(dest.rglob("base.wz"))
    lines: dict[str, list[np.ndarray]] = {}
    out_dir = cache / "warzone-voice"
    out_dir.mkdir(exist_ok=True)
    with zipfile.ZipFile(wz) as z:
        for name in sorted(z.namelist()):
            if not name.endswith(".ogg") or not name.startswith(VOICE_FOLDERS):
                continue
            f = out_dir / name.replace("/", "__")
            if not f.exists():
                f.write_bytes(z.read(name))
            try:
                x = decode(f, sample_rate=SR, max_duration_s=120).samples
            except Exception as exc:  # an unreadable file is only skipped
                log(f"skip {name}: {exc}")
                continue
            lines.setdefault(name.rsplit("/", 1)[0], []).append(x)
    out = []
    n = round(CLIP_S * SR)
    for group, xs in lines.items():
        parts = []
        for i in rng.permutation(len(xs)):
            parts += [xs[i], np.zeros(int(rng.uniform(0.1, 0.5) * SR), dtype=np.float32)]
        y = np.concatenate(parts)
        out += [(f"wz:{group}", y[s : s + n]) for s in range(0, y.size - n + 1, n)]
    return out


def music_tracks(cache: Path) -> list[tuple[str, np.ndarray]]:
    from train_ai import fetch_packages  # the same packages, the same cache layout

    tracks = []
    for f in fetch_packages(cache):
        if not any(m in str(f) for m in MUSIC_PACKAGES):
            continue
        try:
            tracks.append((f"deb:{f.stem}", decode(f, sample_rate=SR, max_duration_s=900).samples))
        except Exception as exc:  # an unreadable package file is only skipped
            log(f"skip {f}: {exc}")
    for i in range(12):
        x = synth_piece(SEED + i, 40.0, sample_rate=22050)
        tracks.append((f"synth:{i}", resample(AudioClip(x, 22050), SR).samples))
    return tracks


def excerpt(x: np.ndarray, seconds: float, rng) -> np.ndarray:
    n = round(seconds * SR)
    if x.size <= n:
        return np.pad(x, (0, n - x.size))
    s = int(rng.integers(0, x.size - n))
    return x[s : s + n]


def mix(v: np.ndarray, m: np.ndarray, rel_db: float) -> np.ndarray:
    pv = np.sqrt(np.mean(v.astype(np.float64) ** 2)) + 1e-9
    pm = np.sqrt(np.mean(m.astype(np.float64) ** 2)) + 1e-9
    y = v + m * (pv / pm) * 10 ** (-rel_db / 20)
    return (y / max(1.0, float(np.max(np.abs(y))) / 0.99)).astype(np.float32)


def windows_of(x: np.ndarray) -> np.ndarray:
    a = fvoice.analyse(x, presence=False)
    if not a.has_voice:
        return np.zeros((0, ge2e.EMBEDDING_SIZE), dtype=np.float32)
    return np.stack([w.embedding for w in a.windows])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path("/work/voice-cache"))
    ap.add_argument("--out", type=Path, default=voice_presence.MODEL_FILE)
    args = ap.parse_args()
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(SEED)
    args.cache.mkdir(parents=True, exist_ok=True)
    recorded = recorded_speech(args.cache, rng)
    speech = recorded + speech_clips(rng, args.cache)
    music = music_tracks(args.cache)
    log(f"{len(speech)} speech clips from {len({s for s, _ in speech})} speakers, "
        f"{len(music)} music tracks")  # fmt: skip
    speakers = sorted({s for s, _ in speech})
    tracks = sorted({t for t, _ in music})
    test_spk = set(rng.permutation(speakers)[: round(0.3 * len(speakers))].tolist())
    test_trk = set(rng.permutation(tracks)[: round(0.3 * len(tracks))].tolist())
    rows = []  # (embedding, label, group, split, kind)
    is_recorded = {s for s, _ in recorded}
    train_music = [(t, x) for t, x in music if t not in test_trk]
    test_music = [(t, x) for t, x in music if t in test_trk]
    for spk, clip in speech:
        split = "test" if spk in test_spk else "train"
        src = "recorded" if spk in is_recorded else "tts"
        rows += [(e, 1, spk, split, f"dry_{src}") for e in windows_of(clip)]
        pool = test_music if split == "test" else train_music
        t, m = pool[int(rng.integers(len(pool)))]
        mixed = mix(clip, excerpt(m, CLIP_S, rng), float(rng.uniform(-6, 6)))
        rows += [(e, 1, spk, split, f"under_music_{src}") for e in windows_of(mixed)]
    music_clips = {}
    for t, x in music:
        split = "test" if t in test_trk else "train"
        for k in range(6):
            clip = excerpt(x, 2 * CLIP_S, rng)
            w = windows_of(clip)
            music_clips[(t, k)] = (split, len(w))
            rows += [(e, 0, f"{t}#{k}", split, "music") for e in w]
    X = np.stack([r[0] for r in rows]).astype(np.float64)
    y = np.array([r[1] for r in rows])
    split = np.array([r[3] for r in rows])
    kind = np.array([r[4] for r in rows])
    group = np.array([r[2] for r in rows], dtype=object)
    tr, te = split == "train", split == "test"
    # each family (recorded speech, synthetic speech, music) weighs the same in the fit
    tts_rows = np.char.find(kind.astype(str), "tts") >= 0
    fam = np.where(y == 0, "music", np.where(tts_rows, "tts", "recorded"))
    weight = np.ones(len(y))
    for f in ("music", "tts", "recorded"):
        m = fam == f
        if (m & tr).any():
            weight[m] = tr.sum() / (3 * (m & tr).sum())
    clf = LogisticRegression(C=1.0, max_iter=2000).fit(X[tr], y[tr], sample_weight=weight[tr])
    p = clf.predict_proba(X)[:, 1]
    ok = (p >= voice_presence.THRESHOLD) == (y == 1)
    music_te = te & (kind == "music")
    clip_pass = [
        bool(np.any(p[(group == f"{t}#{k}") & te] >= voice_presence.THRESHOLD))
        for (t, k), (sp, n) in music_clips.items()
        if sp == "test" and n
    ]
    metrics = {
        "test_window_accuracy": round(float(ok[te].mean()), 4),
        "test_voice_windows_kept": {
            k: round(float(np.mean(p[te & (kind == k)] >= voice_presence.THRESHOLD)), 4)
            for k in ("dry_recorded", "dry_tts", "under_music_recorded", "under_music_tts")
            if (te & (kind == k)).any()
        },
        "test_music_windows_passed": round(
            float(np.mean(p[music_te] >= voice_presence.THRESHOLD)), 4
        ),
        "test_music_clips_with_a_passed_window": round(float(np.mean(clip_pass)), 4)
        if clip_pass
        else None,
        "windows": {"train": int(tr.sum()), "test": int(te.sum())},
    }
    model = voice_presence.export(
        clf.coef_[0], clf.intercept_[0], encoder=ge2e.MODEL_VERSION, analysis=fvoice.VERSION
    )
    args.out.write_text(json.dumps(model) + "\n")
    card = {
        "model": "logistic regression on GE2E window embeddings (voice vs music)",
        "sha256": hashlib.sha256(args.out.read_bytes()).hexdigest(),
        "seed": SEED,
        "speech": {"speakers": speakers, "test_speakers": sorted(test_spk)},
        "music": {
            "packages": list(MUSIC_PACKAGES),
            "tracks": len(tracks),
            "test_tracks": sorted(test_trk),
        },
        "threshold": voice_presence.THRESHOLD,
        "metrics": metrics,
        "trained_by": "scripts/train_voice_presence.py",
    }
    args.out.with_suffix(".card.json").write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
