#!/usr/bin/env python3
"""Research, not product: a learned segment embedding for samples under a louder bed.

The landmark constellation loses a catalogue excerpt mixed 3-12 dB under other music
before any vote (docs/benchmarks.md, issue 2). This script measures whether a small
contrastive embedding, trained to map a mixture close to the clean excerpt inside it,
finds the right (track, offset) where the landmarks do not. Nothing here is used by the
checker; the figures it gave are in docs/benchmarks.md ("A learned segment embedding").

    pip install torch==2.13.0                 # CPU build; training only
    python scripts/explore_sample_embedding.py prepare --cache ../nfp
    python scripts/explore_sample_embedding.py train --cache ../nfp --out ../nfp/m2.pt \\
        --steps 2000 --asym --rel-lo -15 --rel-hi 0 --p-bed 0.9
    python scripts/explore_sample_embedding.py evaluate --cache ../nfp --model ../nfp/m2.pt \\
        --corpus ../eval-cache/corpus/dev

* **Data** (``prepare``): the music of seven Debian packages the evaluation corpus does not
  use (:data:`PACKAGES`: 7.8 hours), decoded at the landmark rate (11025 Hz); one
  package (:data:`HOLDOUT`) is kept out of training for the validation figures.
* **Input**: ``--seg`` frames (64: 1.49 s) of the landmark STFT (1024 / 256 at 11025 Hz)
  folded into 64 mel bands (100-5000 Hz), in dB below the segment's maximum.
* **Training** (``train``): NT-Xent over a batch; the anchor is a clean segment as the
  catalogue would store it, the positive the same excerpt shifted by up to half a query
  hop and mixed with another track at a relative level drawn from ``--rel-lo`` ..
  ``--rel-hi`` dB (with probability ``--p-bed``), plus noise and a smooth EQ. With
  ``--asym`` the catalogue and the upload have encoders of their own.
* **Evaluation** (``evaluate``): the corpus catalogue embedded every 32 frames, the remix
  and negative queries every 8 frames, a flat inner-product index (faiss) gives each query
  segment its 10 nearest catalogue segments, which vote on (track, offset); printed per
  remix: the rank of the true (track, offset) cell, and per query the best score, with the
  largest score of an unrelated track on the negatives as the threshold.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fingerprints.audio import decode  # noqa: E402
from fingerprints.landmarks import FRAME_S, HOP, N_FFT, SAMPLE_RATE  # noqa: E402
from fingerprints.mel import hz_to_mel_htk, mel_to_hz_htk  # noqa: E402

PACKAGES = (
    "wesnoth-1.16-music",
    "fb-music-high",
    "nexuiz-music",
    "planetblupi-music-ogg",
    "xblast-tnt-musics",
    "singularity-music",
    "pushover-data",
)
"""Debian packages with recorded music that the evaluation corpus does not use."""
HOLDOUT = "nexuiz"
"""Tracks whose path holds this are validation only."""
N_MELS = 64
SEED = 0


# --------------------------------------------------------------------------- data
def prepare(cache: Path) -> None:
    """Download and unpack :data:`PACKAGES`, decode every track of at least 10 s."""
    import zipfile

    debs, pkgs = cache / "debs", cache / "pkgs"
    debs.mkdir(parents=True, exist_ok=True)
    pkgs.mkdir(parents=True, exist_ok=True)
    for name in PACKAGES:
        if not list(debs.glob(f"{name}_*.deb")):
            subprocess.run(["apt-get", "download", name], cwd=debs, check=True)
        deb = sorted(debs.glob(f"{name}_*.deb"))[-1]
        subprocess.run(["dpkg", "-x", str(deb), str(pkgs)], check=True)
    for pk3 in pkgs.rglob("*.pk3"):  # nexuiz keeps its music in a zip
        zipfile.ZipFile(pk3).extractall(pkgs / pk3.stem)
    audio = {}
    for f in sorted(p for p in pkgs.rglob("*") if p.suffix in (".ogg", ".mp3", ".flac")):
        x = decode(f, sample_rate=SAMPLE_RATE, max_duration_s=3600).samples
        if x.size >= 10 * SAMPLE_RATE:
            audio[str(f.relative_to(pkgs))] = x.astype(np.float32)
    np.savez(cache / "train_audio.npz", **audio)
    hours = sum(x.size for x in audio.values()) / SAMPLE_RATE / 3600
    print(f"{len(audio)} tracks, {hours:.2f} h -> {cache / 'train_audio.npz'}")


# --------------------------------------------------------------------------- model
def mel_weights() -> np.ndarray:
    """Triangular mel bands over the landmark STFT's bins, each summing to 1."""
    nb = N_FFT // 2 + 1
    freqs = np.arange(nb) * SAMPLE_RATE / N_FFT
    edges = mel_to_hz_htk(np.linspace(hz_to_mel_htk(100.0), hz_to_mel_htk(5000.0), N_MELS + 2))
    w = np.zeros((nb, N_MELS), np.float32)
    for m in range(N_MELS):
        a, b, c = edges[m : m + 3]
        w[:, m] = np.maximum(0, np.minimum((freqs - a) / (b - a), (c - freqs) / (c - b)))
        if w[:, m].sum() == 0:  # narrower than a bin: its nearest bin
            w[round(b * N_FFT / SAMPLE_RATE), m] = 1.0
    return w / w.sum(axis=0, keepdims=True)


def _torch():
    import torch
    import torch.nn.functional as F

    return torch, F


class Features:
    """Segments of ``seg`` frames (samples, shape (B, L)) -> (B, 1, N_MELS, seg)."""

    def __init__(self, seg: int) -> None:
        torch, _ = _torch()
        self.seg = seg
        self.length = (seg - 1) * HOP + N_FFT
        self.window = torch.from_numpy(np.hanning(N_FFT).astype(np.float32))
        self.scale = 2.0 / float(self.window.sum())
        self.mel = torch.from_numpy(mel_weights())

    def __call__(self, x):
        torch, _ = _torch()
        spec = torch.fft.rfft(x.unfold(1, N_FFT, HOP) * self.window, dim=-1).abs() * self.scale
        db = 20 * torch.log10(spec @ self.mel + 1e-5)
        db = torch.clamp(db - db.amax(dim=(1, 2), keepdim=True), min=-80.0) / 20.0 + 2.0
        return db.transpose(1, 2).unsqueeze(1)


def make_net(channels: tuple[int, ...], dim: int, seg: int):
    """Strided 3x3 convolutions, then a linear layer to a unit vector."""
    torch, F = _torch()
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers, c0 = [], 1
            for c in channels:
                layers += [nn.Conv2d(c0, c, 3, stride=2, padding=1, bias=False),
                           nn.BatchNorm2d(c), nn.ReLU()]  # fmt: skip
                c0 = c
            self.conv = nn.Sequential(*layers)
            k = 2 ** len(channels)
            self.fc = nn.Linear(channels[-1] * (N_MELS // k) * (seg // k), dim)

        def forward(self, x):
            return F.normalize(self.fc(self.conv(x).flatten(1)), dim=1)

    return Net()


class Pair:
    """The catalogue encoder and the upload encoder (the same one unless asymmetric)."""

    def __init__(self, args: dict) -> None:
        torch, _ = _torch()
        ch = tuple(int(c) for c in args["ch"].split(","))
        self.seg = args["seg"]
        self.catalogue = make_net(ch, args["dim"], self.seg)
        self.upload = self.catalogue
        if args["asym"]:
            qch = tuple(int(c) for c in args["qch"].split(","))
            self.upload = make_net(qch, args["dim"], self.seg)
        self.modules = torch.nn.ModuleList(
            [self.catalogue] + ([self.upload] if args["asym"] else [])
        )


# --------------------------------------------------------------------------- training
class Batches:
    """Anchor / positive segments drawn from the prepared audio."""

    def __init__(self, cache: Path, seg: int) -> None:
        torch, _ = _torch()
        z = np.load(cache / "train_audio.npz")
        self.train, self.val = [], []
        for k in z.files:
            (self.val if HOLDOUT in k else self.train).append(torch.from_numpy(z[k]))
        self.features = Features(seg)

    def draw(self, rng, n, *, rel_lo, rel_hi, p_bed, jitter=1152, val=False):
        torch, _ = _torch()
        tracks = self.val if val else self.train
        w = np.array([len(t) for t in tracks], float)
        length, margin = self.features.length, jitter + 1

        def segments(count, extra):
            ids = rng.choice(len(tracks), count, p=w / w.sum())
            out = torch.empty(count, length + 2 * extra)
            for i, t in enumerate(ids):
                s = int(rng.integers(0, len(tracks[t]) - length - 2 * extra))
                out[i] = tracks[t][s : s + length + 2 * extra]
            return out, torch.from_numpy(ids)

        raw, ids = segments(n, margin)
        anchor = raw[:, margin : margin + length]
        shift = rng.integers(-jitter, jitter + 1, n)
        pos = torch.stack(
            [raw[i, margin + shift[i] : margin + shift[i] + length] for i in range(n)]
        )
        bed, _ = segments(n, 0)

        def rms(x):
            return x.pow(2).mean(dim=1, keepdim=True).sqrt() + 1e-6

        rel = torch.from_numpy(rng.uniform(rel_lo, rel_hi, n).astype(np.float32))[:, None]
        with_bed = torch.from_numpy(rng.random(n) < p_bed)[:, None]
        mix = torch.where(with_bed, pos * (rms(bed) / rms(pos) * 10 ** (rel / 20)) + bed, pos)
        snr = torch.from_numpy(rng.uniform(10, 40, n).astype(np.float32))[:, None]
        noisy = torch.from_numpy(rng.random(n) < 0.3)[:, None]
        mix = torch.where(noisy, mix + torch.randn_like(mix) * rms(mix) * 10 ** (-snr / 20), mix)
        fa, fp = self.features(anchor), self.features(mix)
        k = torch.linspace(0, 1, N_MELS)
        coef = torch.from_numpy(rng.normal(0, 1, (n, 3)).astype(np.float32))
        eq = sum(coef[:, i : i + 1] * torch.cos((i + 1) * math.pi * k) for i in range(3)) * 0.1
        fp = fp + eq[:, None, :, None]
        fp = torch.clamp(fp - fp.amax(dim=(1, 2, 3), keepdim=True) + 2.0, min=-2.0)
        return fa, fp, ids


def nt_xent(a, p, ids, tau):
    torch, F = _torch()
    sim = a @ p.T / tau
    same = (ids[:, None] == ids[None, :]) & ~torch.eye(len(ids), dtype=torch.bool)
    sim = sim.masked_fill(same, -1e4)  # two segments of one track are not negatives
    target = torch.arange(len(ids))
    return 0.5 * (F.cross_entropy(sim, target) + F.cross_entropy(sim.T, target))


def validate(pair: Pair, data: Batches, n: int = 2000) -> dict[float, float]:
    """Top-1 retrieval of held-out excerpts mixed at -12, -6, 0 dB among ``n``."""
    torch, _ = _torch()
    rng = np.random.default_rng(1)
    out = {}
    with torch.no_grad():
        pair.modules.eval()
        for rel in (-12.0, -6.0, 0.0):
            fa, fp, _ = data.draw(rng, n, rel_lo=rel, rel_hi=rel, p_bed=1.0, val=True)
            ea = torch.cat([pair.catalogue(fa[i : i + 500]) for i in range(0, n, 500)])
            ep = torch.cat([pair.upload(fp[i : i + 500]) for i in range(0, n, 500)])
            out[rel] = float(((ep @ ea.T).argmax(dim=1) == torch.arange(n)).float().mean())
        pair.modules.train()
    return out


def train(a) -> None:
    torch, _ = _torch()
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    args = {k: getattr(a, k) for k in ("ch", "qch", "dim", "seg", "asym")}
    pair = Pair(args)
    data = Batches(a.cache, a.seg)
    params = list(pair.modules.parameters())
    print("parameters", sum(p.numel() for p in params), flush=True)
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=a.steps,
                                                pct_start=0.05)  # fmt: skip
    t0, running = time.time(), 0.0
    for step in range(1, a.steps + 1):
        fa, fp, ids = data.draw(rng, a.batch, rel_lo=a.rel_lo, rel_hi=a.rel_hi, p_bed=a.p_bed)
        loss = nt_xent(pair.catalogue(fa), pair.upload(fp), ids, a.tau)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        running += float(loss.detach())
        if step % 100 == 0:
            print(f"step {step} loss {running / 100:.3f} {time.time() - t0:.0f} s", flush=True)
            running = 0.0
        if step % 1000 == 0 or step == a.steps:
            print("validation top-1", validate(pair, data), flush=True)
            torch.save({"state": pair.modules.state_dict(), "args": args}, a.out)


# --------------------------------------------------------------------------- evaluation
def _embed(net, features: Features, x: np.ndarray, hop: int):
    """Unit vectors of every ``hop``-frame step of ``x`` (11025 Hz), their first frames,
    and which segments are not silent."""
    torch, _ = _torch()
    x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if len(x) < features.length:
        x = torch.nn.functional.pad(x, (0, features.length - len(x)))
    starts = torch.arange(1 + (len(x) - features.length) // (hop * HOP)) * hop * HOP
    segs = torch.stack([x[s : s + features.length] for s in starts])
    with torch.no_grad():
        e = torch.cat([net(features(segs[i : i + 512])) for i in range(0, len(segs), 512)])
    loud = segs.pow(2).mean(1).sqrt().numpy() > 1e-4
    return e.numpy()[loud], (starts // HOP).numpy()[loud]


def _cells(dist, ids, q_frames, tracks, frames, bin_frames=8):
    """Vote of the query segments' neighbours on (track, offset bin), each query segment
    counted once per cell, neighbouring bins at half weight: cell -> summed similarity."""
    off = np.round((frames[ids] - q_frames[:, None]) / bin_frames).astype(np.int64)
    cells: dict[tuple[int, int], float] = {}
    for i in range(dist.shape[0]):
        seen = set()
        for j in range(dist.shape[1]):
            for d, w in ((0, 1.0), (-1, 0.5), (1, 0.5)):
                key = (int(tracks[ids[i, j]]), int(off[i, j]) + d)
                if key not in seen:
                    seen.add(key)
                    cells[key] = cells.get(key, 0.0) + w * float(dist[i, j])
    return cells


def evaluate(a) -> None:
    import faiss
    import torch

    ck = torch.load(a.model)
    pair = Pair(ck["args"])
    pair.modules.load_state_dict(ck["state"])
    pair.modules.eval()
    features = Features(ck["args"]["seg"])
    corpus = Path(a.corpus)
    with open(corpus / "catalogue.csv", newline="") as fh:
        cat = list(csv.DictReader(fh))
    with open(corpus / "queries.csv", newline="") as fh:
        queries = list(csv.DictReader(fh))
    vecs, tracks, frames = [], [], []
    for i, row in enumerate(cat):
        x = decode(corpus / row["path"], sample_rate=SAMPLE_RATE, max_duration_s=3600).samples
        e, f = _embed(pair.catalogue, features, x, a.catalogue_hop)
        vecs.append(e)
        tracks.append(np.full(len(e), i))
        frames.append(f)
    tracks, frames = np.concatenate(tracks), np.concatenate(frames)
    index = faiss.IndexFlatIP(vecs[0].shape[1])
    index.add(np.concatenate(vecs).astype(np.float32))
    ids = [r["catalogue_id"] for r in cat]
    negatives, remixes = [], []
    for q in queries:
        if q["kind"] not in ("remix", "negative"):
            continue
        x = decode(corpus / q["path"], sample_rate=SAMPLE_RATE, max_duration_s=3600).samples
        e, f = _embed(pair.upload, features, x, a.query_hop)
        dist, nn = index.search(e.astype(np.float32), 10)
        cells = _cells(dist, nn, f, tracks, frames)
        best: dict[str, float] = {}
        for (t, _o), v in cells.items():
            best[ids[t]] = max(best.get(ids[t], 0.0), v)
        if q["kind"] == "negative":
            related = set(filter(None, q["related_ids"].split(";")))
            negatives.append(max([v for c, v in best.items() if c not in related] or [0.0]))
            continue
        p = json.loads(q["params"])
        want = (p["cat_offset_s"] - p["query_offset_s"]) / FRAME_S / 8
        order = sorted(cells, key=lambda k: -cells[k])
        true = ids.index(q["expected_ids"])
        rank = next((n for n, (t, o) in enumerate(order) if t == true and abs(o - want) <= 1.5),
                    None)  # fmt: skip
        others = max([v for c, v in best.items() if c != q["expected_ids"]] or [0.0])
        remixes.append((q["query_id"], q["subkind"], p["rel_db"], rank,
                        best.get(q["expected_ids"], 0.0), others))  # fmt: skip
    threshold = max(negatives)
    found = {"sample_under": [0, 0], "sample_over": [0, 0]}
    for qid, kind, rel, rank, score, others in sorted(remixes, key=lambda r: r[2]):
        ok = score > threshold and score > others
        found[kind][0] += ok
        found[kind][1] += 1
        print(f"{qid} {kind:13s} {rel:6.2f} dB  true cell rank {rank}  score {score:6.2f}")
    print(f"largest unrelated score on {len(negatives)} negatives: {threshold:.2f}")
    print("found above it:", {k: f"{v[0]}/{v[1]}" for k, v in found.items()})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--cache", type=Path, required=True)
    t = sub.add_parser("train")
    t.add_argument("--cache", type=Path, required=True)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--steps", type=int, default=3000)
    t.add_argument("--batch", type=int, default=192)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--tau", type=float, default=0.05)
    t.add_argument("--seg", type=int, default=64, help="frames per segment (power of 2)")
    t.add_argument("--ch", default="24,48,96,128", help="catalogue encoder channels")
    t.add_argument("--qch", default="32,64,128,128", help="upload encoder channels (--asym)")
    t.add_argument("--dim", type=int, default=128)
    t.add_argument("--asym", action="store_true", help="an encoder for each side")
    t.add_argument("--rel-lo", type=float, default=-15.0)
    t.add_argument("--rel-hi", type=float, default=10.0)
    t.add_argument("--p-bed", type=float, default=0.85)
    e = sub.add_parser("evaluate")
    e.add_argument("--cache", type=Path, required=True)
    e.add_argument("--model", type=Path, required=True)
    e.add_argument("--corpus", type=Path, required=True)
    e.add_argument("--catalogue-hop", type=int, default=32, help="frames")
    e.add_argument("--query-hop", type=int, default=8, help="frames")
    a = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    if a.cmd == "prepare":
        prepare(a.cache)
    elif a.cmd == "train":
        train(a)
    else:
        evaluate(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
