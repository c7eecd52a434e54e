"""Inverted index of landmark hashes: hash -> (track, anchor frame).

The index is a list of immutable *segments*. A segment holds the postings of a batch of
tracks as three parallel arrays sorted by hash, stored as ``.npy`` files in a folder of
its own and memory-mapped on load, so opening an index costs almost nothing. Adding
tracks writes a new segment (to a temporary folder, renamed into place atomically);
segments are never modified. Which segments are live is decided by the caller (the
service records segment names in its database in the same transaction as the catalogue
rows), so a crash mid-write leaves at most an orphan folder, never a half index.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fingerprints.index.segment_files import read_meta, write_segment_folder
from fingerprints.jit import on_first_use
from fingerprints.landmarks import (
    HASH_BITS,
    SIGNAL_NAME,
    SIGNAL_VERSION,
    Triplets,
    decode_pitch,
    encode_pitch,
)

FORMAT_VERSION = 5
"""Version 5 adds the STFT phase of every catalogue peak (for the coherence check of
:mod:`fingerprints.coherence`); version 4 added the peaks (for the presence check of
:mod:`fingerprints.presence`). Versions 3 and 4 are still read, without what they lack."""
_READABLE_FORMATS = (3, 4, 5)
_ARRAYS = ("tracks", "times", "pitches", "spans")
"""Posting columns saved per segment; the hash column is implied by the bucket table."""
_PEAK_ARRAYS = ("peak_times", "peak_pitches", "peak_offsets")
"""Per-track peaks: frames (uint32), pitch codes (uint16), and the track boundaries
(int64, shape (n_tracks + 1,))."""
_PHASE_ARRAY = "peak_phases"
"""Per-peak phase codes (uint8), parallel to ``peak_times``."""
_PHASE_TRACKS = "phase_tracks"
"""Which tracks have phases (uint8 per track), saved only when some have none: a merge
of a segment of format 5 with an older one keeps the newer tracks' phases."""


def _peak_columns(fps: Sequence[Triplets]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The peaks of every fingerprint as CSR columns, or None if any has none."""
    if not fps or any(getattr(fp, "peaks", None) is None for fp in fps):
        return None
    counts = [len(fp.peaks) for fp in fps]
    offsets = np.zeros(len(fps) + 1, np.int64)
    offsets[1:] = np.cumsum(counts)
    times = np.concatenate([np.asarray(fp.peaks.t, np.uint32) for fp in fps])
    pitches = np.concatenate([encode_pitch(fp.peaks.p) for fp in fps])
    return times, pitches, offsets


def _phase_column(fps: Sequence[Triplets]) -> np.ndarray | None:
    """The peaks' phase codes of every fingerprint, parallel to :func:`_peak_columns`,
    or None if any has none."""
    peaks = [getattr(fp, "peaks", None) for fp in fps]
    if not fps or any(pk is None or getattr(pk, "phases", None) is None for pk in peaks):
        return None
    return np.concatenate([np.asarray(pk.phases, np.uint8) for pk in peaks])


_N_BUCKETS = 1 << HASH_BITS


def _pitches(fp: Triplets) -> np.ndarray:
    if getattr(fp, "pitches", None) is None:
        return np.zeros(fp.hashes.shape[0], np.uint16)
    return np.asarray(fp.pitches, dtype=np.uint16)


def _spans(fp: Triplets) -> np.ndarray:
    if getattr(fp, "spans", None) is None:
        return np.zeros(fp.hashes.shape[0], np.uint16)
    return np.asarray(fp.spans, dtype=np.uint16)


@dataclass(frozen=True, slots=True)
class Postings:
    """Lookup result; parallel arrays of shape (h,).

    ``query_index`` points into the looked-up hash array, ``track`` is the global track
    number (see :attr:`LandmarkIndex.track_ids`), ``time`` the catalogue anchor frame,
    ``pitch`` the catalogue anchor log-frequency code (see
    :func:`fingerprints.landmarks.encode_pitch`), ``span`` the catalogue landmark's
    time span in frames.
    """

    query_index: np.ndarray
    track: np.ndarray
    time: np.ndarray
    pitch: np.ndarray
    span: np.ndarray


class Segment:
    """One immutable batch of tracks.

    Parameters
    ----------
    hashes, times : ndarray of uint32, shape (m,)
        Postings sorted by hash, and the anchor frames.
    tracks : ndarray of uint16 (uint32 past 65,536 tracks), shape (m,)
        Local numbers into ``track_ids``.
    pitches : ndarray of uint16, shape (m,)
        Anchor log-frequency codes.
    spans : ndarray of uint8, shape (m,)
        Landmark spans, frames.
    track_ids : list of str
        Catalogue ids of the tracks in this segment.
    durations_s : list of float
        Track durations, seconds.
    name : str
        Folder name of the segment.
    peaks : tuple of ndarray, optional
        ``(peak_times, peak_pitches, peak_offsets)``: every track's peaks, track ``n``'s
        at ``peak_offsets[n]:peak_offsets[n + 1]``; None for segments built without.
    phases : ndarray of uint8, optional
        The phase code of every peak, parallel to ``peak_times``; None for segments
        built without (format 4 and older).
    phase_tracks : ndarray of bool, shape (n_tracks,), optional
        Which tracks' phases are real, when not all are (a merge with an older segment:
        the others hold zeros); None when every track with peaks has phases.
    """

    def __init__(
        self,
        hashes: np.ndarray | None,
        tracks: np.ndarray,
        times: np.ndarray,
        pitches: np.ndarray,
        spans: np.ndarray,
        track_ids: list[str],
        durations_s: list[float],
        name: str,
        peaks: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
        phases: np.ndarray | None = None,
        phase_tracks: np.ndarray | None = None,
    ) -> None:
        self._hashes: np.ndarray | None = hashes
        self.tracks = tracks
        self.times = times
        self.pitches = pitches
        self.spans = spans
        self._offsets: np.ndarray | None = None
        self.track_ids = track_ids
        self.durations_s = durations_s
        self.name = name
        self.peaks = peaks
        self.phases = phases if peaks is not None else None
        self.phase_tracks = phase_tracks if self.phases is not None else None

    def track_peaks(self, local: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Peak frames and log-frequencies (semitones) of local track ``local``."""
        if self.peaks is None:
            return None
        t, p, off = self.peaks
        a, b = int(off[local]), int(off[local + 1])
        return np.asarray(t[a:b]), decode_pitch(p[a:b])

    def track_phases(self, local: int) -> np.ndarray | None:
        """Phase codes of the peaks of local track ``local`` (parallel to
        :meth:`track_peaks`), None when the segment has none."""
        if self.phases is None or (self.phase_tracks is not None and not self.phase_tracks[local]):
            return None
        off = self.peaks[2]
        return np.asarray(self.phases[int(off[local]) : int(off[local + 1])])

    @classmethod
    def build(cls, fingerprints: Mapping[str, Triplets], *, name: str | None = None) -> Segment:
        """Build a segment from catalogue fingerprints keyed by catalogue id."""
        ids = list(fingerprints)
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate track id in one segment")
        hashes = [fingerprints[i].hashes for i in ids]
        times = [fingerprints[i].times for i in ids]
        pitches = [_pitches(fingerprints[i]) for i in ids]
        spans = [_spans(fingerprints[i]) for i in ids]
        tracks = [np.full(h.shape[0], n, np.uint32) for n, h in enumerate(hashes)]
        all_h = np.concatenate(hashes) if hashes else np.empty(0, np.uint32)
        order = np.argsort(all_h, kind="stable")
        return cls(
            hashes=all_h[order].astype(np.uint32),
            tracks=(np.concatenate(tracks) if tracks else np.empty(0, np.uint32))[order].astype(
                np.uint16 if len(ids) <= 1 << 16 else np.uint32
            ),
            times=(np.concatenate(times) if times else np.empty(0, np.uint32))[order].astype(
                np.uint32
            ),
            pitches=(np.concatenate(pitches) if pitches else np.empty(0, np.uint16))[order],
            spans=np.minimum(
                (np.concatenate(spans) if spans else np.empty(0, np.uint16))[order], 255
            ).astype(np.uint8),
            track_ids=ids,
            durations_s=[float(fingerprints[i].duration_s) for i in ids],
            name=name or f"seg-{uuid.uuid4().hex[:16]}",
            peaks=_peak_columns([fingerprints[i] for i in ids]),
            phases=_phase_column([fingerprints[i] for i in ids]),
        )

    @classmethod
    def merge(cls, segments: Sequence[Segment], *, name: str | None = None) -> Segment:
        """One segment holding the postings of several (track ids must be distinct)."""
        ids = [i for seg in segments for i in seg.track_ids]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate track id across merged segments")
        wide = len(ids) > 1 << 16
        base = np.cumsum([0] + [len(seg.track_ids) for seg in segments[:-1]])
        hashes = np.concatenate([np.asarray(seg.hashes) for seg in segments])
        order = np.argsort(hashes, kind="stable")
        tracks = np.concatenate(
            [
                np.asarray(seg.tracks, dtype=np.uint32) + b
                for seg, b in zip(segments, base, strict=True)
            ]
        )
        cat = {k: np.concatenate([np.asarray(getattr(seg, k)) for seg in segments])
               for k in ("times", "pitches", "spans")}  # fmt: skip
        peaks = None
        if any(seg.peaks is not None for seg in segments):
            # Tracks of segments without peaks (format 3) get none: the presence check
            # skips them, and the others keep theirs.
            cols = [
                seg.peaks
                if seg.peaks is not None
                else (
                    np.empty(0, np.uint32),
                    np.empty(0, np.uint16),
                    np.zeros(len(seg.track_ids) + 1, np.int64),
                )
                for seg in segments
            ]
            bases = np.cumsum([0] + [int(c[2][-1]) for c in cols[:-1]])
            peaks = (
                np.concatenate([np.asarray(c[0], np.uint32) for c in cols]),
                np.concatenate([np.asarray(c[1], np.uint16) for c in cols]),
                np.concatenate(
                    [np.zeros(1, np.int64)]
                    + [np.asarray(c[2][1:], np.int64) + b
                       for c, b in zip(cols, bases, strict=True)]
                ),
            )  # fmt: skip
        phases = phase_tracks = None
        if peaks is not None and any(seg.phases is not None for seg in segments):
            # tracks of older segments (no phases) get zeros and are marked as without
            codes, real = [], []
            for seg in segments:
                n_peaks = int(seg.peaks[2][-1]) if seg.peaks is not None else 0
                if seg.phases is None:
                    codes.append(np.zeros(n_peaks, np.uint8))
                    real.append(np.zeros(len(seg.track_ids), bool))
                else:
                    codes.append(np.asarray(seg.phases, np.uint8))
                    real.append(
                        np.ones(len(seg.track_ids), bool)
                        if seg.phase_tracks is None
                        else np.asarray(seg.phase_tracks, bool)
                    )
            phases, mask = np.concatenate(codes), np.concatenate(real)
            phase_tracks = None if mask.all() else mask
        return cls(
            hashes=hashes[order],
            tracks=tracks[order].astype(np.uint32 if wide else np.uint16),
            times=cat["times"][order],
            pitches=cat["pitches"][order],
            spans=cat["spans"][order],
            track_ids=ids,
            durations_s=[d for seg in segments for d in seg.durations_s],
            name=name or f"seg-{uuid.uuid4().hex[:16]}",
            peaks=peaks,
            phases=phases,
            phase_tracks=phase_tracks,
        )

    def save(self, root: str | os.PathLike) -> Path:
        """Write to ``root/name`` atomically (temporary folder, fsync, rename)."""
        columns = {k: getattr(self, k) for k in (*_ARRAYS, "offsets")}
        if self.peaks is not None:
            columns.update(zip(_PEAK_ARRAYS, self.peaks, strict=True))
        if self.phases is not None:
            columns[_PHASE_ARRAY] = self.phases
        if self.phase_tracks is not None:
            columns[_PHASE_TRACKS] = np.asarray(self.phase_tracks, np.uint8)
        meta = {
            "format": FORMAT_VERSION,
            "signal": SIGNAL_NAME,
            "signal_version": SIGNAL_VERSION,
            "track_ids": self.track_ids,
            "durations_s": self.durations_s,
            "n_hashes": self.n_postings,
            "peaks": self.peaks is not None,
            "phases": self.phases is not None,
            "phase_tracks": self.phase_tracks is not None,
        }
        return write_segment_folder(root, self.name, columns, meta)

    @classmethod
    def load(cls, path: str | os.PathLike, *, mmap: bool = True) -> Segment:
        """Open a saved segment (memory-mapped by default)."""
        path = Path(path)
        meta = read_meta(path)
        fmt = meta.get("format")
        if fmt not in _READABLE_FORMATS or meta.get("signal_version") != SIGNAL_VERSION:
            raise ValueError(
                f"segment {path.name} has format {meta.get('format')} / signal version "
                f"{meta.get('signal_version')}; this build reads {FORMAT_VERSION} / "
                f"{SIGNAL_VERSION}: re-ingest the catalogue"
            )
        mode = "r" if mmap else None
        arrays = {k: np.load(path / f"{k}.npy", mmap_mode=mode) for k in (*_ARRAYS, "offsets")}
        peaks = None
        if meta.get("peaks"):
            peaks = tuple(np.load(path / f"{k}.npy", mmap_mode=mode) for k in _PEAK_ARRAYS)
        phases = phase_tracks = None
        if meta.get("phases"):
            phases = np.load(path / f"{_PHASE_ARRAY}.npy", mmap_mode=mode)
        if meta.get("phase_tracks"):
            phase_tracks = np.load(path / f"{_PHASE_TRACKS}.npy").astype(bool)
        seg = cls(
            None, arrays["tracks"], arrays["times"], arrays["pitches"], arrays["spans"],
            list(meta["track_ids"]), list(meta["durations_s"]), path.name, peaks, phases,
            phase_tracks,
        )  # fmt: skip
        seg._offsets = arrays["offsets"]
        return seg

    @property
    def hashes(self) -> np.ndarray:
        """Hash of every posting (uint32, sorted); rebuilt from the bucket table after a
        load, where it is not stored."""
        if self._hashes is None:
            counts = np.diff(np.asarray(self.offsets, dtype=np.int64))
            self._hashes = np.repeat(np.arange(_N_BUCKETS, dtype=np.uint32), counts)
        return self._hashes

    @property
    def n_postings(self) -> int:
        return int(self.offsets[-1])

    @property
    def offsets(self) -> np.ndarray:
        """Bucket table: postings of hash ``h`` are ``offsets[h]:offsets[h + 1]``.

        ndarray of uint32, shape (2**HASH_BITS + 1,); saved with the segment, so a
        lookup costs two array reads instead of two binary searches.
        """
        if self._offsets is None:
            self._offsets = np.searchsorted(
                self.hashes, np.arange(_N_BUCKETS + 1, dtype=np.int64)
            ).astype(np.uint32)
        return self._offsets

    def nbytes(self) -> int:
        """Bytes of the postings, the bucket table and the stored peaks."""
        peaks = sum(a.nbytes for a in self.peaks) if self.peaks is not None else 0
        peaks += self.phases.nbytes if self.phases is not None else 0
        return int(sum(getattr(self, k).nbytes for k in _ARRAYS) + self.offsets.nbytes + peaks)


class LandmarkIndex:
    """The union of segments, with global track numbers.

    Attributes
    ----------
    track_ids : list of str
        Catalogue id of each global track number.
    durations_s : ndarray of float, shape (n_tracks,)
    """

    def __init__(self, segments: Iterable[Segment] = ()) -> None:
        self.segments: list[Segment] = []
        self._bases: list[int] = []
        self.track_ids: list[str] = []
        self._durations: list[float] = []
        for seg in segments:
            self.add_segment(seg)

    def add_segment(self, segment: Segment) -> None:
        """Make a built or loaded segment searchable."""
        self._bases.append(len(self.track_ids))
        self.segments.append(segment)
        self.track_ids.extend(segment.track_ids)
        self._durations.extend(segment.durations_s)

    @classmethod
    def open(cls, root: str | os.PathLike, names: Iterable[str]) -> LandmarkIndex:
        """Open the named segments under ``root``."""
        return cls(Segment.load(Path(root) / n) for n in names)

    @property
    def durations_s(self) -> np.ndarray:
        return np.asarray(self._durations, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.track_ids)

    @property
    def n_hashes(self) -> int:
        return sum(s.n_postings for s in self.segments)

    def _locate(self, track: int) -> tuple[Segment, int]:
        """The segment of global track ``track`` and its local number there."""
        k = int(np.searchsorted(self._bases, track, side="right")) - 1
        return self.segments[k], track - self._bases[k]

    def track_peaks(self, track: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Peak frames (sorted) and log-frequencies (semitones) of global track ``track``,
        None when its segment was built without peaks."""
        seg, local = self._locate(track)
        return seg.track_peaks(local)

    def track_phases(self, track: int) -> np.ndarray | None:
        """Phase codes of the peaks of global track ``track``, parallel to
        :meth:`track_peaks`; None when its segment was built without them."""
        seg, local = self._locate(track)
        return seg.track_phases(local)

    def nbytes(self) -> int:
        return sum(s.nbytes() for s in self.segments)

    def lookup_in_range(
        self,
        hashes: np.ndarray,
        query_spans: np.ndarray,
        query_pitches: np.ndarray,
        *,
        scale_range: tuple[float, float],
        max_pitch: float,
        max_bucket: int | None = None,
    ) -> Postings:
        """The postings of :meth:`lookup` that :func:`in_range` keeps, in the same order,
        without gathering the others (on a typical query 97 % of the postings imply a
        scale or pitch shift outside the alignment's range).

        Parameters
        ----------
        hashes : ndarray of uint32, shape (q,)
        query_spans, query_pitches : ndarray of uint16, shape (q,)
            The query triplets' spans (frames) and anchor pitch codes.
        scale_range, max_pitch
            As :func:`in_range`.
        max_bucket : int, optional
            As :meth:`lookup`.
        """
        hashes = np.ascontiguousarray(hashes, dtype=np.int64)
        q_spans = np.ascontiguousarray(query_spans, dtype=np.uint16)
        q_pitches = np.ascontiguousarray(query_pitches, dtype=np.uint16)
        lo, hi = (float(v) for v in scale_range)
        parts: list[Postings] = []
        for base, seg in zip(self._bases, self.segments, strict=True):
            cap = max_bucket if max_bucket is not None else stop_bucket_size(seg.n_postings)
            cols = (np.asarray(seg.offsets), np.asarray(seg.spans), np.asarray(seg.pitches))
            args = (hashes, q_spans, q_pitches, *cols, int(cap), lo, hi, float(max_pitch),
                    _N_BUCKETS)  # fmt: skip
            # one pass with room for one posting per query triplet (a typical query
            # keeps a third of that), a second one only when that was too little
            room = max(1024, hashes.shape[0])
            q, pos = np.empty(room, np.int64), np.empty(room, np.int64)
            total = _in_range(*args, q, pos)
            if total > room:
                q, pos = np.empty(total, np.int64), np.empty(total, np.int64)
                _in_range(*args, q, pos)
            if total == 0:
                continue
            parts.append(_gathered(seg, base, q[:total], pos[:total]))
        return _joined(parts)

    def lookup(self, hashes: np.ndarray, *, max_bucket: int | None = None) -> Postings:
        """All postings of the given hashes.

        Parameters
        ----------
        hashes : ndarray of uint32, shape (q,)
        max_bucket : int, optional
            Hashes with more postings than this in a segment are skipped there (such
            "stop hashes" come from drones and repeated notes and carry little
            identity). Default: :func:`stop_bucket_size` of the segment.
        """
        hashes = np.asarray(hashes, dtype=np.int64)
        hashes = np.where((hashes >= 0) & (hashes < _N_BUCKETS), hashes, _N_BUCKETS)
        parts: list[Postings] = []
        for base, seg in zip(self._bases, self.segments, strict=True):
            lo = seg.offsets[hashes].astype(np.int64)  # out-of-range hashes: empty bucket
            counts = seg.offsets[np.minimum(hashes + 1, _N_BUCKETS)].astype(np.int64) - lo
            cap = max_bucket if max_bucket is not None else stop_bucket_size(seg.n_postings)
            counts[counts > cap] = 0
            total = int(counts.sum())
            if total == 0:
                continue
            q = np.repeat(np.arange(hashes.shape[0]), counts)
            starts = np.repeat(lo - (np.cumsum(counts) - counts), counts)
            parts.append(_gathered(seg, base, q, np.arange(total) + starts))
        return _joined(parts)


def _gathered(seg: Segment, base: int, q: np.ndarray, pos: np.ndarray) -> Postings:
    """The postings at positions ``pos`` of ``seg`` for query triplets ``q``, with global
    track numbers (``base``: the segment's first)."""
    return Postings(
        q, np.asarray(seg.tracks[pos], dtype=np.int64) + base,
        np.asarray(seg.times[pos], dtype=np.int64), np.asarray(seg.pitches[pos], dtype=np.uint16),
        np.asarray(seg.spans[pos], dtype=np.uint16),
    )  # fmt: skip


def _joined(parts: list[Postings]) -> Postings:
    """One :class:`Postings` of what each segment answered."""
    if not parts:
        e = np.empty(0, np.int64)
        return Postings(e, e, e, np.empty(0, np.uint16), np.empty(0, np.uint16))
    if len(parts) == 1:  # one segment answered: its arrays as they are (no copies)
        return parts[0]
    return Postings(*(np.concatenate([getattr(p, f) for p in parts]) for f in Postings.__slots__))


def implied_shifts(
    hits: Postings, query_spans: np.ndarray, query_pitches: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """What each posting implies about the upload: the time scale (catalogue span over
    query span, a query span of 0 counted as 1) and the pitch shift (query anchor minus
    catalogue anchor, semitones, from the float32 pitch codes).

    Returns
    -------
    (ndarray, ndarray) of float64, shape (h,) each
    """
    qi = hits.query_index
    q_span = np.maximum(np.asarray(query_spans)[qi].astype(np.float64), 1.0)
    scale = hits.span.astype(np.float64) / q_span
    pitch = (decode_pitch(np.asarray(query_pitches)[qi]) - decode_pitch(hits.pitch)).astype(
        np.float64
    )
    return scale, pitch


def within(
    scale: np.ndarray, pitch: np.ndarray, *, scale_range: tuple[float, float], max_pitch: float
) -> np.ndarray:
    """Which implied shifts (:func:`implied_shifts`) the alignment votes on: a scale in
    ``scale_range`` (inclusive) and a pitch shift of at most ``max_pitch`` semitones."""
    lo, hi = scale_range
    return (scale >= lo) & (scale <= hi) & (np.abs(pitch) <= max_pitch)


def in_range(
    hits: Postings,
    query_spans: np.ndarray,
    query_pitches: np.ndarray,
    *,
    scale_range: tuple[float, float],
    max_pitch: float,
) -> np.ndarray:
    """Which postings the alignment of :mod:`fingerprints.align` votes on (:func:`within`
    of their :func:`implied_shifts`).

    Returns
    -------
    ndarray of bool, shape (h,)
    """
    scale, pitch = implied_shifts(hits, query_spans, query_pitches)
    return within(scale, pitch, scale_range=scale_range, max_pitch=max_pitch)


def _in_range_py(hashes, q_spans, q_pitches, offsets, spans, pitches, cap, lo, hi, max_pitch,
                 n_buckets, out_q, out_pos):  # fmt: skip
    """Kernel of :meth:`LandmarkIndex.lookup_in_range` for one segment (compiled by numba
    on first use): the query index and segment position of every posting that
    :func:`in_range` keeps, in :meth:`LandmarkIndex.lookup` order, written to ``out_q``
    and ``out_pos`` while they have room. Returns how many there are (more than the
    room: call again with larger arrays). The arithmetic is that of
    :func:`implied_shifts` and :func:`within`, operation for operation (float32 pitch
    codes, float64 scales), so both keep the same postings."""
    n = 0
    room = out_q.shape[0]
    units = np.float32(32.0)
    for i in range(hashes.shape[0]):
        h = hashes[i]
        if h < 0 or h >= n_buckets:
            continue
        a = np.int64(offsets[h])
        b = np.int64(offsets[h + 1])
        if b - a > cap:
            continue
        qs = max(np.float64(q_spans[i]), 1.0)
        qp = np.float32(q_pitches[i]) / units
        for k in range(a, b):
            scale = np.float64(spans[k]) / qs
            if scale < lo or scale > hi:
                continue
            if abs(np.float64(qp - np.float32(pitches[k]) / units)) > max_pitch:
                continue
            if n < room:
                out_q[n] = i
                out_pos[n] = k
            n += 1
    return n


_in_range = on_first_use(_in_range_py)


def stop_bucket_size(n_postings: int) -> int:
    """Largest bucket kept for a segment of ``n_postings``: 64, or 32 times the mean
    bucket of a uniform hash distribution, whichever is larger."""
    return max(64, int(np.ceil(32 * n_postings / (1 << HASH_BITS))))


class BruteForceIndex:
    """The slow, obviously correct reference for :class:`LandmarkIndex` (tests only)."""

    def __init__(self, fingerprints: Mapping[str, Triplets]) -> None:
        self.track_ids = list(fingerprints)
        self._fps = [fingerprints[i] for i in self.track_ids]

    def __len__(self) -> int:
        return len(self.track_ids)

    def track_peaks(self, track: int) -> tuple[np.ndarray, np.ndarray] | None:
        pk = self._fps[track].peaks
        return None if pk is None else (pk.t, decode_pitch(encode_pitch(pk.p)))

    def track_phases(self, track: int) -> np.ndarray | None:
        pk = self._fps[track].peaks
        return None if pk is None else pk.phases

    def lookup_in_range(
        self,
        hashes: np.ndarray,
        query_spans: np.ndarray,
        query_pitches: np.ndarray,
        *,
        scale_range: tuple[float, float],
        max_pitch: float,
        max_bucket: int | None = None,
    ) -> Postings:
        """:meth:`lookup`, then :func:`in_range` (the reference of the fused lookup)."""
        hits = self.lookup(hashes, max_bucket=max_bucket)
        keep = in_range(
            hits, query_spans, query_pitches, scale_range=scale_range, max_pitch=max_pitch
        )
        return Postings(*(getattr(hits, f)[keep] for f in Postings.__slots__))

    def lookup(self, hashes: np.ndarray, *, max_bucket: int | None = None) -> Postings:
        n = sum(int(fp.hashes.shape[0]) for fp in self._fps)
        cap = max_bucket if max_bucket is not None else stop_bucket_size(n)
        rows = []
        for q, h in enumerate(np.asarray(hashes, dtype=np.uint32).tolist()):
            found = [
                (q, t, int(time), int(pitch), int(span))
                for t, fp in enumerate(self._fps)
                for hh, time, pitch, span in zip(
                    fp.hashes.tolist(),
                    fp.times.tolist(),
                    _pitches(fp).tolist(),
                    _spans(fp).tolist(),
                    strict=True,
                )
                if hh == h
            ]
            if len(found) <= cap:
                rows.extend(found)
        cols = list(zip(*rows, strict=True)) if rows else [(), (), (), (), ()]
        return Postings(
            np.asarray(cols[0], np.int64),
            np.asarray(cols[1], np.int64),
            np.asarray(cols[2], np.int64),
            np.asarray(cols[3], np.uint16),
            np.asarray(cols[4], np.uint16),
        )
