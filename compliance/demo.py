"""``compliance demo`` (what ``make run`` runs): a synthetic catalogue and six uploads.

Everything is generated here from seeds: no audio is stored in git. The uploads are an
untouched copy, an MP3 re-encode at 64 kbps, a 20 s crop, a +4 % speed copy (pitch
moving with it), a +2 semitone pitch shift at constant tempo, a remix with a 12 s
catalogue excerpt 1.5 dB under new material (at 3 dB and more under a bed this dense the
default query settings miss it: docs/benchmarks.md), and an unrelated piece. A protected
voice (a synthetic talker, authorised for the account ``demo-label``) is enrolled from
three reference recordings, and two new recordings of that talker are checked: one
uploaded by ``demo-label`` (pass) and one by another account (review). The demo prints
each decision with its evidence and exits non-zero if a decision differs from what the
default policy should give.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compliance.synth import synth_piece, synth_voice

SR = 22050
N_CATALOGUE = 6
PIECE_S = 40.0
VOICE_SR = 16000
VOICE_ID = "demo-singer"
VOICE_ACCOUNT = "demo-label"
TALKER = {"f0": 115.0, "tract": 1.0}


@dataclass(frozen=True)
class DemoUpload:
    name: str
    description: str
    expected_decision: str
    expected_kind: str | None
    expected_id: str | None
    metadata: dict | None = None


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

    uploads: list[tuple[Path, DemoUpload, np.ndarray, str | None, int]] = []

    def add(name, desc, decision, kind, cid, samples, codec=None, metadata=None, sr=SR):
        path = up_dir / name
        up = DemoUpload(name, desc, decision, kind, cid, metadata)
        uploads.append((path, up, samples, codec, sr))

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
    add("voice_authorised.wav", f"a new recording of protected voice {VOICE_ID}, uploaded by "
        f"{VOICE_ACCOUNT}", "pass", "voice_clone", VOICE_ID,
        synth_voice(9101, 10.0, **TALKER), metadata={"account_id": VOICE_ACCOUNT},
        sr=VOICE_SR)  # fmt: skip
    add("voice_unauthorised.wav", f"the voice of {VOICE_ID} uploaded by another account",
        "review", "voice_clone", VOICE_ID, synth_voice(9102, 10.0, **TALKER),
        metadata={"account_id": "demo-stranger"}, sr=VOICE_SR)  # fmt: skip
    written = []
    for path, up, samples, codec, sr in uploads:
        if not path.exists():
            if codec:
                encode(samples, sr, path, codec=codec, bitrate="64k")
            else:
                write_wav(path, samples, sr)
        written.append((path, up))
    return cat_paths, written


def build_voice_references(workdir: Path) -> list[Path]:
    """Three reference recordings of the demo's protected voice."""
    from fingerprints.audio import write_wav

    folder = workdir / "voice_references"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(3):
        p = folder / f"{VOICE_ID}-{i}.wav"
        if not p.exists():
            write_wav(p, synth_voice(9000 + i, 6.0, **TALKER), VOICE_SR)
        paths.append(p)
    return paths


def run_demo(app, workdir: Path) -> int:
    """Build, ingest, check, print. Returns the process exit code."""
    from rich.console import Console

    from compliance.domain import ReleaseMetadata
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
        f"{len(report.failed)} failed; {app.store.count_tracks()} tracks in the catalogue"
    )
    # a state folder from an earlier release may hold an older cover signal version
    covers = app.backfill_covers()
    if covers.added or covers.failed:
        console.print(
            f"cover index: {len(covers.added)} tracks indexed for the current cover "
            f"signal, {len(covers.failed)} failed"
        )
    from compliance.voices.bank import enrol

    voice = enrol(
        app.store, VOICE_ID, build_voice_references(workdir), artist_name="Demo Singer",
        authorised_accounts=[VOICE_ACCOUNT], consent={"record": "demo: synthetic voice"},
        provenance="compliance demo", added_by="demo",
    )  # fmt: skip
    console.print(
        f"protected voice {VOICE_ID}: {voice.n_references} reference(s), authorised for "
        f"{VOICE_ACCOUNT}\n"
    )
    scanner = app.scanner()
    wrong = 0
    for path, up in uploads:
        console.rule(f"{up.name}: {up.description}")
        meta = ReleaseMetadata.from_mapping(up.metadata) if up.metadata else None
        result = scanner.check(str(path), meta)
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
                and up.expected_id in (top.catalogue_id, top.voice_id))
        )  # fmt: skip
        wrong += not ok
        mark = "[green]as expected[/]" if ok else f"[red]expected {up.expected_decision}[/]"
        console.print(f"  -> {got} ({mark})\n")
    console.print(
        f"[bold]{len(uploads) - wrong} of {len(uploads)} demo uploads decided as expected.[/]"
    )
    return 1 if wrong else 0
