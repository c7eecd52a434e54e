"""Alignment of landmark hits: offset votes, then a robust line fit per candidate.

A hit says "upload anchor at ``t_q`` has the same hash as catalogue anchor at ``t_c``".
Hits of a true match satisfy ``t_c = s * t_q + c`` for one time scale ``s`` (the speed
ratio) and share one pitch shift; chance hits do not. Candidates are found by a coarse
vote over (track, scale bin, pitch bin, offset bin), then each candidate is confirmed by
a Hough search over residual slopes and a least-squares fit on the inliers. A hit
without an alignment is not evidence: the count of aligned upload anchors is the score.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from fingerprints import coherence, presence
from fingerprints.index.landmark_index import Postings, implied_shifts, within
from fingerprints.landmarks import (
    FRAME_S,
    Triplets,
    log_spectrogram,
    peak_bins,
    query_triplets,
)


@dataclass(frozen=True, slots=True)
class LandmarkMatch:
    """One aligned candidate.

    Attributes
    ----------
    track : int
        Global track number in the index.
    inliers : int
        Hash matches on the fitted line (the raw score).
    query_start_s, query_end_s : float
        Matched span in the upload, seconds (upload time).
    catalogue_start_s, catalogue_end_s : float
        The same span in the catalogue track, seconds.
    speed_ratio : float
        Upload tempo over catalogue tempo (> 1: the upload plays faster).
    pitch_shift_semitones : float
        Upload pitch minus catalogue pitch, semitones.
    presence_z : float or None
        Robust z-score of the presence check (:mod:`fingerprints.presence`) at this
        alignment, when it was run. A match found by that check alone has no aligned
        anchors (``inliers`` 0) and the cell's time scale and pitch shift.
    presence_span_s : (float, float) or None
        Where the check found the catalogue's peaks present, upload seconds: under a
        loud bed it can cover more of a sample than the few aligned anchors do.
    coherence_z : float or None
        The coherence check's score (:mod:`fingerprints.coherence`: the catalogue
        recording's waveform in the upload) at this alignment, when it was run.
    coherence_span_s : (float, float) or None
        Where that check found the waveform, upload seconds.
    """

    track: int
    inliers: int
    query_start_s: float
    query_end_s: float
    catalogue_start_s: float
    catalogue_end_s: float
    speed_ratio: float
    pitch_shift_semitones: float
    presence_z: float | None = None
    presence_span_s: tuple[float, float] | None = None
    coherence_z: float | None = None
    coherence_span_s: tuple[float, float] | None = None

    @property
    def matched_s(self) -> float:
        return self.query_end_s - self.query_start_s


def align(
    query: Triplets,
    hits: Postings,
    *,
    top_k: int = 20,
    bin_frames: int = 12,
    scale_range: tuple[float, float] = (0.85, 1.18),
    scale_step: float = 0.02,
    max_pitch: float = 2.6,
    pitch_bin: float = 1.0,
    tolerance_frames: float = 2.0,
    pitch_tolerance: float = 0.35,
    max_gap_s: float = 4.0,
    min_inliers: int = 4,
    votes: _Votes | None = None,
) -> list[LandmarkMatch]:
    """Align landmark hits (see :mod:`fingerprints.landmarks`), best first, one per track.

    Each hit carries its own estimates of the time scale (catalogue span over upload
    span) and of the pitch shift (upload anchor minus catalogue anchor). Hits vote on
    (track, scale bin, pitch bin, offset bin), each in its own scale bin and the two
    neighbours; the best cells are confirmed by a Hough search over residual slopes and
    a least-squares line, keeping hits whose pitch shift agrees.

    Parameters
    ----------
    query : Triplets
        The upload's triplets (``hits = index.lookup(query.hashes)``).
    scale_range, scale_step : float
        Catalogue-over-upload time scales considered, and the log step of their bins.
    max_pitch, pitch_bin : float
        Largest |pitch shift| considered and the vote bin, semitones.
    pitch_tolerance : float
        Inliers' pitch shift must be within this of the match's median, semitones.
    top_k : int
        Tracks confirmed by fitting.
    bin_frames : int
        Width of the coarse offset bins, frames.
    tolerance_frames : float
        Largest distance of an inlier from the fitted line, frames.
    max_gap_s : float
        Inliers further apart than this (upload time) form separate runs. The run with
        the most anchors gives the score; the reported span covers every run of the line
        with at least 4 anchors, so a passage emptied by noise or masking does not cut a
        copy in two.
    min_inliers : int
        Candidates with fewer aligned anchors are dropped.
    votes : optional
        The vote of these hits with these settings, when the caller already has it
        (:func:`search` shares it with :func:`vote_cells`).
    """
    v = votes or _vote(
        query, hits, scale_range=scale_range, scale_step=scale_step, max_pitch=max_pitch,
        pitch_bin=pitch_bin, bin_frames=bin_frames,
    )  # fmt: skip
    if v is None:
        return []
    idx, tq, tc, pitch, counts = v.idx, v.tq, v.tc, v.pitch, v.counts
    track = v.cell_track
    order = np.lexsort((-counts, track))
    first = np.ones(order.size, bool)
    first[1:] = track[order][1:] != track[order][:-1]
    best = order[first]
    best = best[np.argsort(-counts[best], kind="stable")][:top_k]
    qi = hits.query_index
    matches = []
    by_track = np.argsort(hits.track[idx], kind="stable")
    tracks_sorted = hits.track[idx][by_track]
    for b in best:
        if counts[b] < min_inliers:
            break
        t = int(track[b])
        s0 = float(v.cell_scale[b])
        a, z = np.searchsorted(tracks_sorted, [t, t + 1])
        sel = idx[by_track[a:z]]
        m = _fit_triplet_candidate(
            tq[sel], tc[sel], pitch[sel], qi[sel], s0, t,
            slope_range=scale_step * 1.5, tolerance_frames=tolerance_frames,
            pitch_tolerance=pitch_tolerance, max_gap_s=max_gap_s,
        )  # fmt: skip
        if m is not None and m.inliers >= min_inliers:
            matches.append(m)
    matches.sort(key=lambda m: -m.inliers)
    return matches


@dataclass(frozen=True, slots=True)
class _Votes:
    """Hits inside the search range and their vote cells (see :func:`_vote`)."""

    idx: np.ndarray
    tq: np.ndarray
    tc: np.ndarray
    pitch: np.ndarray
    uniq: np.ndarray
    counts: np.ndarray
    inverse: np.ndarray
    owners: np.ndarray
    cell_track: np.ndarray
    cell_scale: np.ndarray


def _vote(
    query: Triplets,
    hits: Postings,
    *,
    scale_range: tuple[float, float],
    scale_step: float,
    max_pitch: float,
    pitch_bin: float,
    bin_frames: int,
) -> _Votes | None:
    """The coarse vote of :func:`align`: every hit in its (track, scale bin, pitch bin,
    offset bin) cell and in the two neighbouring scale bins."""
    if hits.query_index.size == 0:
        return None
    qi = hits.query_index
    tq = query.times[qi].astype(np.float64)
    tc = hits.time.astype(np.float64)
    scale, pitch = implied_shifts(hits, query.spans, query.pitches)
    idx = np.flatnonzero(within(scale, pitch, scale_range=scale_range, max_pitch=max_pitch))
    if idx.size == 0:
        return None
    lo, hi = scale_range
    log_lo = np.log(lo)
    n_scale = int(np.ceil((np.log(hi) - log_lo) / scale_step)) + 1
    sbin = np.rint((np.log(scale[idx]) - log_lo) / scale_step).astype(np.int64)
    pbin = np.rint(pitch[idx] / pitch_bin).astype(np.int64) + 8
    keys, owners = [], []
    for d in (-1, 0, 1):
        sb = np.clip(sbin + d, 0, n_scale - 1)
        s = np.exp(log_lo + sb * scale_step)
        ob = np.floor((tc[idx] - s * tq[idx]) / bin_frames).astype(np.int64) + (1 << 20)
        keys.append((((hits.track[idx] * n_scale + sb) * 32 + pbin) << 22) | ob)
        owners.append(idx)
    uniq, inverse, counts = np.unique(np.concatenate(keys), return_inverse=True, return_counts=True)
    cell_sbin = ((uniq >> 22) // 32) % n_scale
    return _Votes(
        idx=idx, tq=tq, tc=tc, pitch=pitch, uniq=uniq, counts=counts, inverse=inverse,
        owners=np.concatenate(owners), cell_track=(uniq >> 22) // (n_scale * 32),
        cell_scale=np.exp(log_lo + cell_sbin * scale_step),
    )  # fmt: skip


_VOTE_DEFAULTS = dict(
    scale_range=(0.85, 1.18), scale_step=0.02, max_pitch=2.6, pitch_bin=1.0, bin_frames=12
)
"""The vote settings :func:`align` and :func:`vote_cells` share by default (a test
keeps them equal to their signatures)."""


@dataclass(frozen=True, slots=True)
class Cell:
    """A cell of the coarse vote: a hypothesis to verify (:mod:`fingerprints.presence`).

    Attributes
    ----------
    track : int
    votes : int
        Hits in the cell.
    scale : float
        Catalogue time over upload time.
    pitch_shift : float
        Median pitch shift of the cell's hits, semitones.
    offset_frames : float
        Median ``t_c - scale * t_q`` of the cell's hits, frames.
    query_frame : float
        Median upload frame of the cell's hits (where to look).
    """

    track: int
    votes: int
    scale: float
    pitch_shift: float
    offset_frames: float
    query_frame: float = 0.0


def vote_cells(
    query: Triplets,
    hits: Postings,
    *,
    top: int = 40,
    min_votes: int = 2,
    exclude: frozenset[int] = frozenset(),
    scale_range: tuple[float, float] = (0.85, 1.18),
    scale_step: float = 0.02,
    max_pitch: float = 2.6,
    pitch_bin: float = 1.0,
    bin_frames: int = 12,
    votes: _Votes | None = None,
) -> list[Cell]:
    """The ``top`` fullest vote cells with at least ``min_votes`` hits, one per (track,
    offset), tracks in ``exclude`` left out: weak hypotheses too thin for a line fit.
    ``votes``: the vote of these hits with these settings, when already computed."""
    v = votes or _vote(
        query, hits, scale_range=scale_range, scale_step=scale_step, max_pitch=max_pitch,
        pitch_bin=pitch_bin, bin_frames=bin_frames,
    )  # fmt: skip
    if v is None:
        return []
    order = np.argsort(-v.counts, kind="stable")
    order = order[v.counts[order] >= min_votes]
    by_cell = np.argsort(v.inverse, kind="stable")
    starts = np.searchsorted(v.inverse[by_cell], np.arange(v.uniq.size + 1))
    out: list[Cell] = []
    seen: set[tuple[int, int]] = set()
    for u in order:
        t = int(v.cell_track[u])
        if t in exclude:
            continue
        members = v.owners[by_cell[starts[u] : starts[u + 1]]]
        s = float(v.cell_scale[u])
        off = float(np.median(v.tc[members] - s * v.tq[members]))
        key = (t, int(off // (2 * bin_frames)))
        if key in seen:
            continue
        seen.add(key)
        out.append(
            Cell(t, int(v.counts[u]), s, float(np.median(v.pitch[members])), off,
                 float(np.median(v.tq[members])))
        )  # fmt: skip
        if len(out) >= top:
            break
    return out


_HOUGH_CELLS = 1 << 22
"""Slope x hit (and slope x bin) cells evaluated at once by :func:`_hough_line`: bounds
its memory."""


def _hough_line(
    x: np.ndarray, tc: np.ndarray, slopes: np.ndarray, tolerance: float
) -> tuple[float, float]:
    """The slope and intercept of the line ``tc = s * x + c`` with the most hits within
    two neighbouring bins of ``tolerance`` frames, over the candidate ``slopes`` (the
    first slope, then the lowest occupied bin, wins a tie). A block of slopes is counted
    at once, each slope's residual bins offset into a range of its own: by one sort when
    the hits are few for the range, else by one histogram."""
    best = (-1, float(slopes[0]), 0.0)
    # residual bins of one slope at most (tc - s * x spans at most ptp(tc) + s * ptp(x))
    bins = int((np.ptp(tc) + float(np.max(np.abs(slopes))) * np.ptp(x)) / tolerance) + 2
    step = max(1, _HOUGH_CELLS // max(1, x.size, bins))
    for k0 in range(0, slopes.size, step):
        ss = slopes[k0 : k0 + step]
        r = np.floor((tc[None, :] - ss[:, None] * x[None, :]) / tolerance).astype(np.int64)
        lo = int(r.min())
        width = int(r.max()) - lo + 2  # a bin's upper neighbour stays in its slope's range
        keys = ((r - lo) + width * np.arange(ss.size, dtype=np.int64)[:, None]).ravel()
        if keys.size * 8 < ss.size * width:  # few hits over a long range: sort them
            u, cnt = np.unique(keys, return_counts=True)
            c2 = cnt.copy()
            adj = np.flatnonzero(u[1:] == u[:-1] + 1)
            c2[adj] += cnt[adj + 1]
            j = int(np.argmax(c2))  # the first maximum: lowest slope, then lowest bin
            count, (row, col) = int(c2[j]), divmod(int(u[j]), width)
        else:  # many hits: a histogram row per slope
            h = np.bincount(keys, minlength=ss.size * width)
            c2 = h.copy()
            c2[:-1] += h[1:]  # a bin and its upper neighbour
            c2[h == 0] = -1  # a line runs through an occupied bin
            j = int(np.argmax(c2))
            count, (row, col) = int(c2[j]), divmod(j, width)
        if count > best[0]:
            best = (count, float(ss[row]), float((col + lo + 1) * tolerance))
    return best[1], best[2]


def _fit_triplet_candidate(
    tq: np.ndarray,
    tc: np.ndarray,
    pitch: np.ndarray,
    qidx: np.ndarray,
    s0: float,
    track: int,
    *,
    slope_range: float,
    tolerance_frames: float,
    pitch_tolerance: float,
    max_gap_s: float,
    slope_step: float = 0.001,
    min_run_anchors: int = 4,
) -> LandmarkMatch | None:
    """Line ``tc = s * tq + c`` through the hits of one track near scale ``s0``."""
    slopes = s0 * (1.0 + np.arange(-slope_range, slope_range + slope_step / 2, slope_step))
    pivot = float(np.median(tq))
    x = tq - pivot
    s, c = _hough_line(x, tc, slopes, tolerance_frames)
    inl = np.abs(tc - (s * x + c)) <= tolerance_frames
    if inl.sum() == 0:
        return None
    p_med = float(np.median(pitch[inl]))
    inl &= np.abs(pitch - p_med) <= pitch_tolerance
    if inl.sum() >= 3 and np.ptp(x[inl]) > 0:
        a, cc = np.polyfit(x[inl], tc[inl], 1)
        if abs(a / s0 - 1.0) <= 2 * slope_range:
            s, c = float(a), float(cc)
            inl = (np.abs(tc - (s * x + c)) <= tolerance_frames) & (
                np.abs(pitch - p_med) <= pitch_tolerance
            )
    sel = np.flatnonzero(inl)
    if sel.size == 0:
        return None
    order = sel[np.argsort(tq[sel], kind="stable")]
    t_sorted = tq[order]
    breaks = np.flatnonzero(np.diff(t_sorted) * FRAME_S > max_gap_s) + 1
    runs = [order[r] for r in np.split(np.arange(order.size), breaks)]
    sizes = [np.unique(tq[r]).size for r in runs]
    best = int(np.argmax(sizes))
    run_idx = runs[best]
    # The score is the densest run (chance anchors scattered along a line do not add
    # up); the span covers every run of the same line with a few anchors of its own, so
    # a passage emptied by noise or masking does not cut a copy in two.
    spanning = [r for r, n in zip(runs, sizes, strict=True) if n >= min_run_anchors] or [run_idx]
    q0 = float(min(tq[r[0]] for r in spanning))
    q1 = float(max(tq[r[-1]] for r in spanning))
    return LandmarkMatch(
        track=track,
        inliers=int(sizes[best]),
        query_start_s=q0 * FRAME_S,
        query_end_s=q1 * FRAME_S,
        catalogue_start_s=max(0.0, (s * (q0 - pivot) + c) * FRAME_S),
        catalogue_end_s=max(0.0, (s * (q1 - pivot) + c) * FRAME_S),
        speed_ratio=s,
        pitch_shift_semitones=float(np.median(pitch[run_idx])),
    )


def search(
    index,
    samples: np.ndarray,
    *,
    top_k: int = 20,
    verify_samples: bool = True,
    verify_cells: int = 40,
    verify_below: int = 30,
    spec: np.ndarray | None = None,
    **align_kwargs,
) -> list[LandmarkMatch]:
    """Query ``index`` (a :class:`~fingerprints.index.landmark_index.LandmarkIndex` or the
    brute-force oracle) with a clip and return aligned matches, best first.

    Two stages: landmark alignment (:func:`align`), then, with ``verify_samples``, the
    presence check (:mod:`fingerprints.presence`) of the ``verify_cells`` fullest vote
    cells of tracks without a strong alignment (fewer than ``verify_below`` anchors),
    unless a strong alignment already covers nine tenths of the upload, and the
    coherence check (:mod:`fingerprints.coherence`) of those cells and of the strong
    alignments at the original speed and pitch (which gives a sample over its bed its
    extent). Matches they confirm get ``presence_z`` and ``coherence_z``; alignments
    they find that the landmark alignment did not (other tracks, or another offset of a
    weakly aligned track) are appended, coherent ones first, then by presence.

    Parameters
    ----------
    index : LandmarkIndex or BruteForceIndex
    samples : ndarray, shape (n,)
        Mono audio at :data:`fingerprints.landmarks.SAMPLE_RATE` Hz.
    top_k : int
        Tracks confirmed by alignment.
    spec : ndarray, optional
        ``log_spectrogram(samples)`` when the caller already has it.
    """
    if len(index) == 0:
        return []
    if spec is None:
        spec = log_spectrogram(samples)
    q = query_triplets(samples, spec=spec)
    votes = None  # align and vote_cells share their defaults: one vote for both
    if align_kwargs:
        hits = index.lookup(q.hashes)
    else:
        # only the hits the vote keeps (the same ones, in the same order): the others
        # (most of them) are never gathered
        hits = index.lookup_in_range(
            q.hashes, q.spans, q.pitches, scale_range=_VOTE_DEFAULTS["scale_range"],
            max_pitch=_VOTE_DEFAULTS["max_pitch"],
        )  # fmt: skip
        votes = _vote(q, hits, **_VOTE_DEFAULTS)
        if votes is None:
            return []  # no hit in the search range
    matches = align(q, hits, top_k=top_k, votes=votes, **align_kwargs)
    if not verify_samples:
        return matches
    return _presence_stage(
        index, samples, spec, q, hits, matches, verify_cells=verify_cells,
        verify_below=verify_below, votes=votes,
    )  # fmt: skip


REGION_S = 30.0
"""A cell is verified on the upload within this many seconds of its hits."""
CONFIRM_FRAMES = 24
"""A presence check confirms an aligned match when their offsets agree within this many
frames (two vote bins); elsewhere it found another alignment of the same track."""


def _at_original_speed(scale: float, pitch_shift: float) -> bool:
    """Whether a cell or an alignment is at the original speed and pitch (the coherence
    check's case)."""
    return (
        abs(scale - 1.0) <= coherence.MAX_SCALE_ERROR
        and abs(pitch_shift) <= coherence.MAX_PITCH_SHIFT
    )


def _presence_stage(
    index,
    samples: np.ndarray,
    spec: np.ndarray,
    q: Triplets,
    hits: Postings,
    matches: list[LandmarkMatch],
    *,
    verify_cells: int,
    verify_below: int,
    votes: _Votes | None = None,
) -> list[LandmarkMatch]:
    """The second stage of :func:`search`: presence and coherence checks of the weak
    hypotheses."""
    strong = frozenset(m.track for m in matches if m.inliers >= verify_below)
    upload_s = q.duration_s
    if any(m.track in strong and m.matched_s >= 0.9 * upload_s for m in matches):
        return matches  # a catalogue recording is the upload: no room for a sample
    reach = round(REGION_S / FRAME_S)
    spectrum = None  # the upload's STFT, once a check needs it
    coherent: dict[int, coherence.Coherence] = {}

    def check_waveform(track: int, peaks, offset_frames: float, region: tuple[int, int]):
        """The coherence check of ``track`` at one alignment (time scale 1); the best
        per track is kept."""
        nonlocal spectrum
        codes = index.track_phases(track)
        if codes is None:
            return
        spectrum = spectrum or coherence.UploadSpectrum(samples)
        co = coherence.verify(
            spectrum, peaks[0], peak_bins(peaks[1]), codes, offset_frames=offset_frames,
            region=region,
        )  # fmt: skip
        if co is not None and (track not in coherent or co.z > coherent[track].z):
            coherent[track] = co

    # A strong alignment at the original speed and pitch is checked for the waveform too:
    # its anchors, all near the upload's own peaks, can start late and end early in a
    # sample, and the check finds where the sample is to a peak or two.
    for m in matches:
        if m.track not in strong or m.track in coherent:
            continue
        peaks = index.track_peaks(m.track)
        if peaks is None or not _at_original_speed(m.speed_ratio, m.pitch_shift_semitones):
            continue
        q0, q1 = m.query_start_s / FRAME_S, m.query_end_s / FRAME_S
        mid = 0.5 * (q0 + q1)  # the line's offset there, at time scale 1
        off = m.catalogue_start_s / FRAME_S + m.speed_ratio * (mid - q0) - mid
        check_waveform(m.track, peaks, off, (max(0, int(q0) - reach), int(q1) + reach))
    cells = vote_cells(q, hits, top=verify_cells, exclude=strong, votes=votes)
    contrast = presence.contrast_map(spec) if cells else None
    best: dict[int, tuple[presence.Presence, Cell]] = {}
    for cell in cells:
        peaks = index.track_peaks(cell.track)
        if peaks is None:
            continue
        # Only the upload around the cell's hits: the cost stays bounded in long uploads.
        r0 = max(0, int(cell.query_frame) - reach)
        r1 = int(cell.query_frame) + reach
        pr = presence.verify(
            contrast[r0:r1], peaks[0], peaks[1], scale=cell.scale,
            pitch_shift=cell.pitch_shift, offset_frames=cell.offset_frames + cell.scale * r0,
        )  # fmt: skip
        if pr is not None:
            pr = presence.shifted(pr, r0, cell.scale)
        if pr is not None and (cell.track not in best or pr.z > best[cell.track][0].z):
            best[cell.track] = (pr, cell)
        if _at_original_speed(cell.scale, cell.pitch_shift):
            # the cell's offset at its hits, at time scale 1
            off = cell.offset_frames + (cell.scale - 1.0) * cell.query_frame
            check_waveform(cell.track, peaks, off, (r0, r1))
    out = []
    for m in matches:
        got, co = best.get(m.track), coherent.get(m.track)
        line = m.catalogue_start_s / FRAME_S - m.speed_ratio * m.query_start_s / FRAME_S
        if got is not None and abs(got[0].offset_frames - line) <= CONFIRM_FRAMES:
            m = replace(
                m, presence_z=got[0].z,
                presence_span_s=(got[0].query_start_s, got[0].query_end_s),
            )  # fmt: skip
            del best[m.track]
        if co is not None and abs(co.offset_frames - line) <= CONFIRM_FRAMES:
            m = replace(m, coherence_z=co.z, coherence_span_s=(co.query_start_s, co.query_end_s))
            del coherent[m.track]
        out.append(m)
    extra = [_coherent_match(track, co, best.pop(track, None)) for track, co in coherent.items()]
    extra.sort(key=lambda m: -(m.coherence_z or 0.0))
    by_presence = []
    for track, (pr, cell) in best.items():
        c0 = (cell.scale * pr.query_start_s / FRAME_S + pr.offset_frames) * FRAME_S
        c1 = (cell.scale * pr.query_end_s / FRAME_S + pr.offset_frames) * FRAME_S
        by_presence.append(
            LandmarkMatch(
                track=track,
                inliers=0,  # no line fit: its hits are not aligned anchors
                query_start_s=pr.query_start_s,
                query_end_s=pr.query_end_s,
                catalogue_start_s=max(0.0, c0),
                catalogue_end_s=max(0.0, c1),
                speed_ratio=cell.scale,
                pitch_shift_semitones=cell.pitch_shift,
                presence_z=pr.z,
                presence_span_s=(pr.query_start_s, pr.query_end_s),
            )
        )
    by_presence.sort(key=lambda m: -(m.presence_z or 0.0))
    return out + extra + by_presence


def _coherent_match(
    track: int, co: coherence.Coherence, pres: tuple[presence.Presence, Cell] | None
) -> LandmarkMatch:
    """A match found by the coherence check (no aligned anchors), with the presence
    check's score when that check found the same alignment."""
    presence_z, presence_span = None, None
    if pres is not None and abs(pres[0].offset_frames - co.offset_frames) <= CONFIRM_FRAMES:
        presence_z, presence_span = pres[0].z, (pres[0].query_start_s, pres[0].query_end_s)
    return LandmarkMatch(
        track=track,
        inliers=0,
        query_start_s=co.query_start_s,
        query_end_s=co.query_end_s,
        catalogue_start_s=max(0.0, co.query_start_s + co.offset_frames * FRAME_S),
        catalogue_end_s=max(0.0, co.query_end_s + co.offset_frames * FRAME_S),
        speed_ratio=1.0,
        pitch_shift_semitones=0.0,
        presence_z=presence_z,
        presence_span_s=presence_span,
        coherence_z=co.z,
        coherence_span_s=(co.query_start_s, co.query_end_s),
    )
