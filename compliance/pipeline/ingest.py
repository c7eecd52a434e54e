"""Catalogue ingest: decode, fingerprint, write an index segment, record it atomically.

Work is done in batches. A batch becomes visible only when its segment file is written
*and* the database transaction that records its tracks and the segment commits, so an
interrupted ingest leaves the catalogue as it was after the last complete batch. Files
already in the catalogue (same content hash) are skipped; unreadable files are reported
and the batch goes on.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from compliance.errors import CatalogueError, error_parts
from compliance.storage.index_files import collect_garbage, write_cover_segment, write_segment
from fingerprints import chromaprint, cover, landmarks
from fingerprints.audio import content_hash, decode
from fingerprints.errors import CodedError

AUDIO_EXTENSIONS = frozenset(
    {".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".mp4", ".aiff", ".aif"}
)


@dataclass(frozen=True, slots=True)
class IngestItem:
    """One file to ingest with the catalogue id it gets."""

    path: Path
    catalogue_id: str
    title: str | None = None
    artist: str | None = None


@dataclass
class IngestReport:
    """What happened to every file: ``added`` ids, ``skipped`` and ``failed`` entries as
    ``(path, code, message)``."""

    added: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)


def read_manifest(path: str | os.PathLike) -> list[IngestItem]:
    """Read a manifest CSV with columns ``path,id`` and optional ``title,artist``.

    Relative paths are resolved against the manifest's folder.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError(
            f"cannot read manifest {path}: {exc}", code="manifest_unreadable"
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    cols = set(reader.fieldnames or ())
    if not {"path", "id"} <= cols:
        raise CatalogueError(
            f"manifest {path} needs the columns path,id (has: {', '.join(sorted(cols))})",
            code="manifest_invalid",
        )
    items = []
    for line, row in enumerate(reader, start=2):
        p, cid = (row.get("path") or "").strip(), (row.get("id") or "").strip()
        if not p or not cid:
            raise CatalogueError(f"{path}:{line}: empty path or id", code="manifest_invalid")
        fp = Path(p)
        if not fp.is_absolute():
            fp = path.parent / fp
        items.append(IngestItem(fp, cid, (row.get("title") or None), (row.get("artist") or None)))
    return items


def expand_paths(paths: Iterable[str | os.PathLike]) -> list[IngestItem]:
    """Files as given, folders walked for audio extensions; id = file name stem."""
    items = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS:
                    items.append(IngestItem(f, f.stem))
        else:
            items.append(IngestItem(p, p.stem))
    return items


@dataclass
class _Pending:
    item: IngestItem
    content_hash: str
    duration_s: float
    landmarks: landmarks.Triplets
    chromaprint: bytes
    cover: cover.ChromaSequence


def _check_readable(path: Path) -> None:
    if not path.is_file():
        code = "audio_unreadable" if path.exists() else "audio_not_found"
        raise CatalogueError(f"not a readable file: {path}", code=code)


def _decode_catalogue_audio(path: Path, max_duration_s: float, max_bytes: int):
    """A catalogue file at the landmark rate, within the limits, at least 1 s long."""
    clip = decode(
        path, sample_rate=landmarks.SAMPLE_RATE, max_duration_s=max_duration_s,
        max_bytes=max_bytes, backend="soundfile",
    )  # fmt: skip
    if clip.duration_s < 1.0:
        raise CatalogueError(
            f"{path}: only {clip.duration_s:.2f} s of audio", code="audio_too_short"
        )
    return clip


def ingest(
    items: Sequence[IngestItem],
    *,
    store,
    index_dir: Path,
    max_duration_s: float,
    max_bytes: int,
    added_by: str = "cli",
    batch_size: int = 64,
    progress: Callable[[IngestItem, str], None] | None = None,
) -> IngestReport:
    """Ingest catalogue files.

    Parameters
    ----------
    items : sequence of IngestItem
    store : compliance.storage.Store
    index_dir : Path
        Folder of the landmark index segments.
    max_duration_s, max_bytes : float, int
        Per-file limits; longer or larger files are reported as failed.
    added_by : str
        Provenance recorded on each catalogue row.
    batch_size : int
        Tracks per segment and per database transaction.
    progress : callable, optional
        Called as ``progress(item, outcome)`` after each file (``added``, ``skipped``,
        ``failed``); ``added`` means fingerprinted, committed with its batch.
    """
    from compliance.storage import CatalogueTrackIn, SegmentIn

    collect_garbage(store, index_dir)
    report = IngestReport()
    seen_ids: set[str] = set()
    seen_hashes: set[str] = set()
    batch: list[_Pending] = []

    def note(item: IngestItem, outcome: str) -> None:
        if progress is not None:
            progress(item, outcome)

    def flush() -> None:
        if not batch:
            return
        seg = write_segment(index_dir, {p.item.catalogue_id: p.landmarks for p in batch})
        cseg = write_cover_segment(index_dir, {p.item.catalogue_id: p.cover for p in batch})
        tracks = [
            CatalogueTrackIn(
                id=p.item.catalogue_id,
                title=p.item.title,
                artist=p.item.artist,
                content_hash=p.content_hash,
                source_path=str(p.item.path),
                duration_s=p.duration_s,
                added_by=added_by,
            )
            for p in batch
        ]
        segment = SegmentIn(
            name=seg.name,
            signal=landmarks.SIGNAL_NAME,
            signal_version=landmarks.SIGNAL_VERSION,
            track_ids=[t.id for t in tracks],
            n_hashes=seg.n_postings,
        )
        cover_segment = SegmentIn(
            name=cseg.name,
            signal=cover.SIGNAL_NAME,
            signal_version=cover.SIGNAL_VERSION,
            track_ids=[t.id for t in tracks],
            n_hashes=len(cseg.vectors),
        )
        try:
            store.ingest_catalogue(tracks, segment=segment, extra_segments=[cover_segment])
        except BaseException:
            shutil.rmtree(Path(index_dir) / seg.name, ignore_errors=True)
            shutil.rmtree(Path(index_dir) / cseg.name, ignore_errors=True)
            raise
        for p in batch:
            store.put_signal(
                p.content_hash,
                chromaprint.SIGNAL_NAME,
                chromaprint.SIGNAL_VERSION,
                p.chromaprint,
                {"duration_s": p.duration_s},
            )
            report.added.append(p.item.catalogue_id)
        batch.clear()

    for item in items:
        try:
            _check_readable(item.path)
            h = content_hash(item.path)
            existing = store.find_track_by_hash(h)
            if existing is not None or h in seen_hashes:
                other = existing.id if existing is not None else "an earlier file of this run"
                report.skipped.append(
                    (str(item.path), "already_ingested", f"same audio as {other}")
                )
                note(item, "skipped")
                continue
            if item.catalogue_id in seen_ids or store.get_track(item.catalogue_id) is not None:
                raise CatalogueError(
                    f"catalogue id '{item.catalogue_id}' already exists for other audio",
                    code="catalogue_duplicate_id",
                )
            clip = _decode_catalogue_audio(item.path, max_duration_s, max_bytes)
            spec, chroma = cover.analyse(clip.samples)  # one STFT for both signals
            fp = landmarks.fingerprint(clip.samples, spec=spec)
            del spec
            cp = chromaprint.fingerprint(clip)
        except CodedError as exc:
            report.failed.append((str(item.path), *error_parts(exc)))
            note(item, "failed")
            continue
        seen_ids.add(item.catalogue_id)
        seen_hashes.add(h)
        batch.append(_Pending(item, h, clip.duration_s, fp, cp.astype("<u4").tobytes(), chroma))
        note(item, "added")
        if len(batch) >= batch_size:
            flush()
    flush()
    if report.added:
        compact(store, index_dir)
    return report


def compact(store, index_dir: Path, *, max_postings: int = 200_000_000) -> str | None:
    """Merge the live landmark segments into one (fewer lookups per query).

    The merged segment is written first, then swapped for the old ones in one database
    transaction, then the old folders are removed; readers that still have the old
    segments open keep working. Skipped when there is one segment or the merge would
    exceed ``max_postings``. Returns the new segment's name, if any.
    """
    from compliance.storage import SegmentIn
    from fingerprints.index.landmark_index import Segment

    live = store.list_segments(landmarks.SIGNAL_NAME, landmarks.SIGNAL_VERSION)
    if len(live) < 2 or sum(s.n_hashes for s in live) > max_postings:
        return None
    merged = Segment.merge([Segment.load(Path(index_dir) / s.name) for s in live])
    merged.save(index_dir)
    try:
        new = SegmentIn(
            merged.name,
            landmarks.SIGNAL_NAME,
            landmarks.SIGNAL_VERSION,
            merged.track_ids,
            merged.n_postings,
        )
        store.replace_segments([s.name for s in live], new)
    except BaseException:
        shutil.rmtree(Path(index_dir) / merged.name, ignore_errors=True)
        raise
    for s in live:
        shutil.rmtree(Path(index_dir) / s.name, ignore_errors=True)
    return merged.name


def _read_source_again(track, track_id: str, max_duration_s: float, max_bytes: int):
    """Decode a catalogue track's stored source file again for an index it lacks,
    refusing a file that is no longer the audio that was ingested (content hash)."""
    path = Path((track.source_path if track is not None else None) or "")
    _check_readable(path)
    if track is None or content_hash(path) != track.content_hash:
        raise CatalogueError(
            f"{track_id}: {path} is no longer the audio that was ingested",
            code="catalogue_source_changed",
        )
    return _decode_catalogue_audio(path, max_duration_s, max_bytes)


def backfill_covers(
    store,
    *,
    index_dir: Path,
    max_duration_s: float,
    max_bytes: int,
    batch_size: int = 64,
) -> IngestReport:
    """Build the cover index for catalogue tracks that have none (tracks ingested before
    the cover detector, or under another cover signal version), from their stored
    source files; content-hash checked, so a source file that changed is refused.

    Every batch is one cover segment recorded in one transaction, as in :func:`ingest`.
    ``added`` lists the tracks indexed; ``failed`` those whose source file is missing,
    unreadable or not the audio that was ingested.
    """
    from compliance.storage import SegmentIn

    report = IngestReport()
    covered = {
        t for s in store.list_segments(cover.SIGNAL_NAME, cover.SIGNAL_VERSION) for t in s.track_ids
    }
    batch: dict[str, cover.ChromaSequence] = {}

    def flush() -> None:
        if not batch:
            return
        seg = write_cover_segment(index_dir, batch)
        new = SegmentIn(
            name=seg.name, signal=cover.SIGNAL_NAME, signal_version=cover.SIGNAL_VERSION,
            track_ids=list(batch), n_hashes=len(seg.vectors),
        )  # fmt: skip
        try:
            store.ingest_catalogue([], segment=None, extra_segments=[new])
        except BaseException:
            shutil.rmtree(Path(index_dir) / seg.name, ignore_errors=True)
            raise
        report.added.extend(batch)
        batch.clear()

    for track in store.list_tracks(include_disabled=True):
        if track.id in covered:
            continue
        try:
            clip = _read_source_again(track, track.id, max_duration_s, max_bytes)
            _spec, seq = cover.analyse(clip.samples)
        except CodedError as exc:
            report.failed.append((track.source_path or track.id, *error_parts(exc)))
            continue
        batch[track.id] = seq
        if len(batch) >= batch_size:
            flush()
    flush()
    return report


def backfill_phases(
    store,
    *,
    index_dir: Path,
    max_duration_s: float,
    max_bytes: int,
) -> IngestReport:
    """Rebuild the landmark segments that lack the coherence check's peak phases (built
    before index format 5, or merged with such a segment) from their tracks' stored
    source files, content-hash checked.

    A segment is rebuilt whole (the same triplets and peaks, now with phases) and swapped
    for the old one in one transaction, only when every one of its tracks could be read
    again; otherwise it stays as it is and its unreadable tracks are reported in
    ``failed``. ``added`` lists the tracks of the rebuilt segments.
    """
    from compliance.storage import SegmentIn
    from fingerprints.index.landmark_index import Segment

    report = IngestReport()
    for live in store.list_segments(landmarks.SIGNAL_NAME, landmarks.SIGNAL_VERSION):
        old = Segment.load(Path(index_dir) / live.name)
        if old.phases is not None and old.phase_tracks is None:
            continue  # every track has its phases
        fps, failed = {}, []
        for track_id in old.track_ids:
            track = store.get_track(track_id)
            source = (track.source_path if track is not None else None) or track_id
            try:
                clip = _read_source_again(track, track_id, max_duration_s, max_bytes)
                fps[track_id] = landmarks.fingerprint(clip.samples)
            except CodedError as exc:
                failed.append((source, *error_parts(exc)))
        if failed:
            report.failed.extend(failed)
            continue
        seg = Segment.build(fps)
        seg.save(index_dir)
        try:
            store.replace_segments(
                [live.name],
                SegmentIn(seg.name, landmarks.SIGNAL_NAME, landmarks.SIGNAL_VERSION,
                          seg.track_ids, seg.n_postings),
            )  # fmt: skip
        except BaseException:
            shutil.rmtree(Path(index_dir) / seg.name, ignore_errors=True)
            raise
        shutil.rmtree(Path(index_dir) / live.name, ignore_errors=True)
        report.added.extend(old.track_ids)
    return report
