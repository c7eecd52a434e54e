"""Alignment of landmark hits: offset votes, then a robust line fit per candidate.

A hit says "query anchor at ``t_q`` has the same hash as catalogue anchor at ``t_c``".
Hits of a true match satisfy ``t_c = slope * t_q + intercept`` for one hypothesis of the
query's transformation; chance hits do not. Candidates are found by a coarse vote over
(track, hypothesis, offset bin), then each candidate is confirmed by a Hough search over
a small grid of residual slopes and a least-squares fit on the inliers. A hit without
an alignment is not evidence: the count of aligned inliers is the score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fingerprints.index.landmark_index import Postings
from fingerprints.landmarks import FRAME_S, QueryHashes, decode_pitch


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
    hypothesis : int
        Index of the query hypothesis that aligned.
    """

    track: int
    inliers: int
    query_start_s: float
    query_end_s: float
    catalogue_start_s: float
    catalogue_end_s: float
    speed_ratio: float
    pitch_shift_semitones: float
    hypothesis: int

    @property
    def matched_s(self) -> float:
        return self.query_end_s - self.query_start_s


def align(
    query: QueryHashes,
    hits: Postings,
    *,
    top_k: int = 20,
    bin_frames: int = 16,
    slope_range: float = 0.016,
    slope_step: float = 0.001,
    tolerance_frames: float = 2.0,
    max_gap_s: float = 4.0,
    min_inliers: int = 4,
) -> list[LandmarkMatch]:
    """Turn raw postings into aligned matches, best first (one per track).

    Parameters
    ----------
    query : QueryHashes
        The query, as hashed under its hypotheses.
    hits : Postings
        ``index.lookup(query.hashes)``.
    top_k : int
        Number of tracks kept after the coarse vote and confirmed by fitting.
    bin_frames : int
        Width of the coarse offset bins, frames.
    slope_range, slope_step : float
        Residual time-scale search around each hypothesis' scale.
    tolerance_frames : float
        Largest distance of an inlier from the fitted line, frames.
    max_gap_s : float
        Inliers further apart than this (in upload time) start a new span; the span
        with the most inliers is reported.
    min_inliers : int
        Candidates with fewer aligned hits are dropped.
    """
    if hits.query_index.size == 0:
        return []
    hyp = query.hypothesis[hits.query_index].astype(np.int64)
    t_s = query.t_scaled[hits.query_index].astype(np.float64)
    offset = hits.time.astype(np.float64) - t_s
    n_hyp = len(query.hypotheses)
    cand_key = hits.track * n_hyp + hyp
    obin = np.floor(offset / bin_frames).astype(np.int64)
    shift = 1 << 22
    vote_key = (cand_key << 24) | (obin + shift)
    uniq, counts = np.unique(vote_key, return_counts=True)
    # Smooth: a bin plus its right neighbour (a line drifting across a bin edge).
    nxt = np.zeros_like(counts)
    adjacent = np.flatnonzero(uniq[1:] == uniq[:-1] + 1)
    nxt[adjacent] = counts[adjacent + 1]
    score = counts + nxt
    ckey = uniq >> 24
    bins = (uniq & ((1 << 24) - 1)) - shift
    track = ckey // n_hyp
    # Best bin per track, then the top_k tracks.
    order = np.lexsort((-score, track))
    first = np.ones(order.size, bool)
    first[1:] = track[order][1:] != track[order][:-1]
    best = order[first]
    best = best[np.argsort(-score[best], kind="stable")][:top_k]

    sort_idx = np.argsort(cand_key, kind="stable")
    sorted_keys = cand_key[sort_idx]
    matches: list[LandmarkMatch] = []
    for b in best:
        if score[b] < min_inliers:
            break
        key = ckey[b]
        lo, hi = np.searchsorted(sorted_keys, [key, key + 1])
        sel = sort_idx[lo:hi]
        centre = (bins[b] + 1) * bin_frames
        sel = sel[np.abs(offset[sel] - centre) <= 3 * bin_frames]
        m = _fit(
            query, hits, sel, int(key % n_hyp), int(track[b]),
            slope_range=slope_range, slope_step=slope_step,
            tolerance_frames=tolerance_frames, max_gap_s=max_gap_s,
        )  # fmt: skip
        if m is not None and m.inliers >= min_inliers:
            matches.append(m)
    matches.sort(key=lambda m: -m.inliers)
    return matches


def _fit(
    query: QueryHashes,
    hits: Postings,
    sel: np.ndarray,
    hyp_index: int,
    track: int,
    *,
    slope_range: float,
    slope_step: float,
    tolerance_frames: float,
    max_gap_s: float,
) -> LandmarkMatch | None:
    if sel.size == 0:
        return None
    tq = query.t_scaled[hits.query_index[sel]].astype(np.float64)
    tc = hits.time[sel].astype(np.float64)
    pivot = float(np.median(tq))
    x = tq - pivot
    slopes = 1.0 + np.arange(-slope_range, slope_range + slope_step / 2, slope_step)
    resid = tc[None, :] - slopes[:, None] * x[None, :]
    width = tolerance_frames
    rbin = np.floor(resid / width).astype(np.int64)
    best_count, best_slope, best_c = -1, 1.0, 0.0
    for i in range(slopes.size):
        u, c = np.unique(rbin[i], return_counts=True)
        if u.size == 0:
            continue
        c2 = c.copy()
        adj = np.flatnonzero(u[1:] == u[:-1] + 1)
        c2[adj] += c[adj + 1]
        j = int(np.argmax(c2))
        if c2[j] > best_count:
            best_count, best_slope, best_c = int(c2[j]), float(slopes[i]), float((u[j] + 1) * width)
    inl = np.abs(tc - (best_slope * x + best_c)) <= tolerance_frames
    if inl.sum() >= 3 and np.ptp(x[inl]) > 0:
        a, c = np.polyfit(x[inl], tc[inl], 1)
        if abs(a - 1.0) <= 2 * slope_range:
            best_slope, best_c = float(a), float(c)
            inl = np.abs(tc - (best_slope * x + best_c)) <= tolerance_frames
    idx = sel[inl]
    if idx.size == 0:
        return None
    # Keep the densest run of inliers in upload time.
    t_orig = query.t_query[hits.query_index[idx]].astype(np.float64)
    order = np.argsort(t_orig)
    t_sorted = t_orig[order]
    breaks = np.flatnonzero(np.diff(t_sorted) * FRAME_S > max_gap_s) + 1
    runs = np.split(np.arange(t_sorted.size), breaks)
    run = max(runs, key=len)
    idx = idx[order[run]]
    t_run = t_sorted[run]
    hyp = query.hypotheses[hyp_index]
    scale = hyp.scale * best_slope
    q0, q1 = float(t_run[0]), float(t_run[-1])
    c0 = best_slope * (q0 * hyp.scale - pivot) + best_c
    c1 = best_slope * (q1 * hyp.scale - pivot) + best_c
    # Pitch: upload anchor log-frequency minus the stored catalogue anchor's.
    qsel = hits.query_index[idx]
    pitch = float(np.median(query.p_shifted[qsel] + hyp.shift - decode_pitch(hits.pitch[idx])))
    return LandmarkMatch(
        track=track,
        inliers=int(np.unique(qsel).size),
        query_start_s=q0 * FRAME_S,
        query_end_s=q1 * FRAME_S,
        catalogue_start_s=max(0.0, c0 * FRAME_S),
        catalogue_end_s=max(0.0, c1 * FRAME_S),
        speed_ratio=scale,
        pitch_shift_semitones=pitch,
        hypothesis=hyp_index,
    )


def search(index, samples: np.ndarray, *, top_k: int = 20, **align_kwargs) -> list[LandmarkMatch]:
    """Query ``index`` (a :class:`~fingerprints.index.landmark_index.LandmarkIndex` or the
    brute-force oracle) with a clip and return aligned matches, best first.

    Parameters
    ----------
    index : LandmarkIndex or BruteForceIndex
    samples : ndarray, shape (n,)
        Mono audio at :data:`fingerprints.landmarks.SAMPLE_RATE` Hz.
    top_k : int
        Tracks confirmed by alignment.
    """
    from fingerprints.landmarks import query_hashes

    if len(index) == 0:
        return []
    q = query_hashes(samples)
    return align(q, index.lookup(q.hashes), top_k=top_k, **align_kwargs)
