"""``compliance demo`` (what ``make run`` runs): a synthetic catalogue and six uploads.

Everything is generated here from seeds: no audio is stored in git. The uploads are an
untouched copy, an MP3 re-encode at 64 kbps, a 20 s crop, a +4 % speed copy (pitch
moving with it), a +2 semitone pitch shift at constant tempo, a remix with a 12 s
catalogue excerpt 1.5 dB under new material (at 3 dB and more under a bed this dense the
default query settings miss it: docs/benchmarks.md), and an unrelated piece. The demo prints each
decision with its evidence and exits non-zero if a decision differs from what the
default policy should give.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compliance.synth import synth_piece

SR = 22050
N_CATALOGUE = 6
PIECE_S = 40.0


@dataclass(frozen=True)
class DemoUpload:
    name: str
    description: str
    expected_decision: str
    expected_kind: str | None
    expected_id: str | None


def _catalogue_id(i: int) -> str:
    return f"demo-{i:02d}"


def build_demo_audio(workdir: Path) -> tuple[list[Path], list[tuple[Path, DemoUpload]]]:
    """Write the demo catalogue and uploads under ``workdir``; returns their paths."""
    import librosa
    import soxr

    from fingerprints.audio import encode, write_wav

    cat_dir, up_dir = workdir / "catalogue", workdir / "uploads"
    cat_dir.mkdir(parents=True, exist_ok=True)
    up_dir.mkdir(parents=True, exist_ok=True)
    pieces = {i: synth_piece(100 + i, PIECE_S, sample_rate=SR) for i in range(1, N_CATALOGUE + 1)}
    cat_paths = []
    for i, y in pieces.items():
        p = cat_dir / f"{_catalogue_id(i)}.wav"
        if not p.exists():
            write_wav(p, y, SR)
        cat_paths.append(p)

    uploads: list[tuple[Path, DemoUpload, np.ndarray, str | None]] = []

    def add(name, desc, decision, kind, cid, samples, codec=None):
        path = up_dir / name
        uploads.append((path, DemoUpload(name, desc, decision, kind, cid), samples, codec))

    add("original.wav", "untouched copy of demo-01", "block", "reupload", "demo-01", pieces[1])
    add("reencode_64k.mp3", "demo-02 re-encoded as MP3 at 64 kbps", "block", "reupload",
        "demo-02", pieces[2], "mp3")  # fmt: skip
    add("crop_20s.wav", "20 s crop of demo-03 (from 12 s)", "block", "reupload", "demo-03",
        pieces[3][12 * SR : 32 * SR])  # fmt: skip
    add("speed_plus4.wav", "demo-04 played 4 % faster (pitch moves with it)", "block",
        "reupload", "demo-04", soxr.resample(pieces[4], SR * 1.04, SR))  # fmt: skip
    shifted = librosa.effects.pitch_shift(pieces[5], sr=SR, n_steps=2.0)
    add("pitch_plus2.wav", "demo-05 pitch-shifted +2 semitones, tempo kept", "block",
        "reupload", "demo-05", shifted)  # fmt: skip
    bed = synth_piece(9001, 36.0, sample_rate=SR)
    excerpt = pieces[6][20 * SR : 32 * SR]
    mix = bed.copy()
    start = 10 * SR
    gain = 10 ** (-1.5 / 20) * np.sqrt(np.mean(bed**2) / np.mean(excerpt**2))
    mix[start : start + excerpt.size] += gain * excerpt
    add("remix_sample.wav", "new material with 12 s of demo-06 (from 20 s) mixed 1.5 dB under it",
        "review", "remix", "demo-06", mix / np.max(np.abs(mix)) * 0.9)  # fmt: skip
    add("unrelated.wav", "a new piece that is not in the catalogue", "pass", None, None,
        synth_piece(9002, 30.0, sample_rate=SR))  # fmt: skip
    written = []
    for path, up, samples, codec in uploads:
        if not path.exists():
            if codec:
                encode(samples, SR, path, codec=codec, bitrate="64k")
            else:
                write_wav(path, samples, SR)
        written.append((path, up))
    return cat_paths, written


def run_demo(app, workdir: Path) -> int:
    """Build, ingest, check, print. Returns the process exit code."""
    from rich.console import Console

    from compliance.pipeline.ingest import IngestItem
    from compliance.report import print_table

    console = Console()
    console.print(f"[bold]demo[/]: state in {app.settings.home}, audio in {workdir}")
    cat_paths, uploads = build_demo_audio(workdir)
    report = app.ingest(
        [IngestItem(p, p.stem, title=f"Demo piece {p.stem[-2:]}", artist="Demo Artist")
         for p in cat_paths],
        added_by="demo",
    )  # fmt: skip
    console.print(
        f"catalogue: {len(report.added)} added, {len(report.skipped)} already there, "
        f"{len(report.failed)} failed; {app.store.count_tracks()} tracks in the catalogue\n"
    )
    scanner = app.scanner()
    wrong = 0
    for path, up in uploads:
        console.rule(f"{up.name}: {up.description}")
        result = scanner.check(str(path))
        print_table([result], console=console)
        got = str(result.decision.verdict) if result.ok else "error"
        top = (
            max(result.evidence, key=lambda e: e.strength)
            if result.ok and result.evidence
            else None
        )
        ok = got == up.expected_decision and (
            up.expected_kind is None
            or (top is not None and str(top.kind) == up.expected_kind
                and top.catalogue_id == up.expected_id)
        )  # fmt: skip
        wrong += not ok
        mark = "[green]as expected[/]" if ok else f"[red]expected {up.expected_decision}[/]"
        console.print(f"  -> {got} ({mark})\n")
    console.print(
        f"[bold]{len(uploads) - wrong} of {len(uploads)} demo uploads decided as expected.[/]"
    )
    return 1 if wrong else 0
