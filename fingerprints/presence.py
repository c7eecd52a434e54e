"""Second-stage check for samples under louder material: are the catalogue's peaks *present*
in the upload's spectrogram at a hypothesised alignment?

A catalogue excerpt mixed 3-12 dB under a bed loses most of its spectral peaks to the bed
(docs/benchmarks.md): few of its landmark triplets survive, and the landmark vote leaves
the right (track, offset) cell with two or three hits among many chance cells. Mixing is
additive, though: wherever the catalogue recording had a peak, the mix still has that
energy on top of the bed. So the upload's local spectral *contrast* (log magnitude minus
its mean over a small time-frequency neighbourhood) is raised at the catalogue's peak
positions, and only at the right alignment.

For each weak candidate cell of the landmark vote (track, time scale, pitch shift,
offset) the catalogue peaks stored with the index are mapped into the upload; the
contrast at those positions is summed over sliding windows of :data:`WINDOW_S` seconds
(a standardised sum, ``sum / sqrt(n)``) and the best window is the score of an offset.
The score at the hypothesised offset (searched within +-:data:`SEARCH_FRAMES`) is
compared with the scores of the same track at offsets 1 to 10 s away: a robust z-score
(median and MAD of those). Offsets away from the truth share the track's key and timbre
but not its timing, so the z-score measures alignment, not similarity of style.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter

from fingerprints.landmarks import F_MAX_HZ, F_REF_HZ, FRAME_S, N_FFT, SAMPLE_RATE, peak_bins

WINDOW_S = 8.0
"""Window over which presence is summed, seconds of upload time (the shortest sample the
detector is meant for)."""
SEARCH_FRAMES = 3
"""Offsets searched around a cell's offset, +- frames. The cell's offset is the median
of its hits, exact to a frame or two near them."""
_SIDE_FRAMES = np.concatenate([np.arange(-440, -40, 36), np.arange(44, 441, 36)])
"""Reference offsets for the null distribution, frames from the hypothesis (1-10 s)."""
EXTENT_DRIFT = 0.2
"""Mean contrast per catalogue peak (in standard deviations) above which a second counts
towards the reported extent of a sample."""
MIN_PEAKS = 8
MAD_FLOOR = 0.5
"""Smallest spread of the reference scores (a near-silent track has none)."""

_HZ_PER_BIN = SAMPLE_RATE / N_FFT
_LO_BIN = int(np.ceil(F_REF_HZ / _HZ_PER_BIN))
_HI_BIN = int(F_MAX_HZ / _HZ_PER_BIN)


def contrast_map(log_spec: np.ndarray, *, size: tuple[int, int] = (5, 9)) -> np.ndarray:
    """Local spectral contrast of an upload, standardised.

    Parameters
    ----------
    log_spec : ndarray, shape (n_frames, N_FFT // 2 + 1)
        :func:`fingerprints.landmarks.log_spectrogram` of the upload (dB).
    size : (int, int)
        Neighbourhood of the local mean, frames x bins.

    Returns
    -------
    ndarray of float32, shape (n_frames, n_bins)
        Bins from :data:`~fingerprints.landmarks.F_REF_HZ` to ``F_MAX_HZ``; unit variance.
    """
    band = np.maximum(log_spec[:, _LO_BIN : _HI_BIN + 1], -90.0)
    d = band - uniform_filter(band, size=size, mode="nearest")
    return (d / (float(d.std()) + 1e-9)).astype(np.float32)


@dataclass(frozen=True, slots=True)
class Presence:
    """The verified alignment of one candidate.

    Attributes
    ----------
    z : float
        Robust z-score of the best window at the hypothesised offset against offsets
        1-10 s away (the raw score of the check).
    offset_frames : float
        Catalogue frame minus ``scale`` times upload frame, refined.
    query_start_s, query_end_s : float
        The best window in the upload, seconds.
    """

    z: float
    offset_frames: float
    query_start_s: float
    query_end_s: float


def verify(
    contrast: np.ndarray,
    peak_times: np.ndarray,
    peak_pitches: np.ndarray,
    *,
    scale: float,
    pitch_shift: float,
    offset_frames: float,
    window_s: float = WINDOW_S,
) -> Presence | None:
    """Presence of a catalogue track's peaks in an upload at one alignment.

    Parameters
    ----------
    contrast : ndarray, shape (n_frames, n_bins)
        :func:`contrast_map` of the upload.
    peak_times : ndarray of int, shape (n,)
        The catalogue track's peak frames, sorted.
    peak_pitches : ndarray of float, shape (n,)
        Their log-frequencies, semitones above ``F_REF_HZ``.
    scale : float
        Catalogue time over upload time (``t_c = scale * t_q + offset``).
    pitch_shift : float
        Upload pitch minus catalogue pitch, semitones.
    offset_frames : float
        Hypothesised offset, frames.

    Returns
    -------
    Presence or None
        None when too few catalogue peaks fall inside the upload.
    """
    n_q, n_f = contrast.shape
    offs = offset_frames + np.concatenate(
        [np.arange(-SEARCH_FRAMES, SEARCH_FRAMES + 1), _SIDE_FRAMES]
    ).astype(np.float64)
    reach = float(np.abs(_SIDE_FRAMES).max()) + SEARCH_FRAMES
    t_all = np.asarray(peak_times)
    lo, hi = np.searchsorted(t_all, [offset_frames - reach, offset_frames + scale * n_q + reach])
    tc = t_all[lo:hi].astype(np.float64)
    fb = peak_bins(np.asarray(peak_pitches[lo:hi], np.float64) + pitch_shift) - _LO_BIN
    ok = (fb >= 0) & (fb < n_f)
    tc, fb = tc[ok], fb[ok]
    if tc.size < MIN_PEAKS:
        return None
    tq = np.rint((tc[None, :] - offs[:, None]) / scale).astype(np.int64)  # (n_offs, n_peaks)
    inside = (tq >= 0) & (tq < n_q)
    # contrast[clip(tq), fb] as one gather from the flat map (the same values, about
    # twice as fast as two-dimensional fancy indexing)
    flat = np.clip(tq, 0, n_q - 1)
    flat *= n_f
    flat += fb[None, :]
    vals = np.where(inside, np.take(np.ravel(contrast), flat), 0.0)
    csum = np.zeros((offs.size, tc.size + 1), vals.dtype)  # running sums after a 0 column
    np.cumsum(vals, axis=1, out=csum[:, 1:])
    ccount = np.zeros((offs.size, tc.size + 1), np.int64)
    np.cumsum(inside, axis=1, out=ccount[:, 1:])
    width = round(window_s / FRAME_S)
    starts = np.arange(0, max(n_q - width, 0) + 1, round(1.0 / FRAME_S))
    # Peaks are sorted by catalogue time, and upload time grows with it: the peaks of a
    # window are a contiguous slice, found by binary search for every offset at once.
    a = np.searchsorted(tc, offs[:, None] + scale * starts[None, :])
    b = np.searchsorted(tc, offs[:, None] + scale * (starts[None, :] + width))
    rows = np.arange(offs.size)[:, None]
    sums = csum[rows, b] - csum[rows, a]
    counts = ccount[rows, b] - ccount[rows, a]
    z = sums / np.sqrt(np.maximum(counts, 1))
    best_window = z.argmax(axis=1)
    score = z[np.arange(offs.size), best_window]
    n_c = 2 * SEARCH_FRAMES + 1
    ref = score[n_c:]
    med = float(np.median(ref))
    mad = max(1.4826 * float(np.median(np.abs(ref - med))), MAD_FLOOR)
    j = int(np.argmax(score[:n_c]))
    w0 = int(starts[best_window[j]])
    q0, q1 = _extent(csum[j], ccount[j], tc, offs[j], scale, n_q, (w0, w0 + width))
    return Presence(
        z=(float(score[j]) - med) / mad,
        offset_frames=float(offs[j]),
        query_start_s=q0 * FRAME_S,
        query_end_s=min(q1, n_q) * FRAME_S,
    )


def shifted(pr: Presence, frames: int, scale: float) -> Presence:
    """``pr`` checked on a region of the upload that starts ``frames`` into it (with the
    offset ``offset + scale * frames``), in whole-upload terms."""
    return Presence(
        z=pr.z,
        offset_frames=pr.offset_frames - scale * frames,
        query_start_s=pr.query_start_s + frames * FRAME_S,
        query_end_s=pr.query_end_s + frames * FRAME_S,
    )


def _extent(
    csum: np.ndarray,
    ccount: np.ndarray,
    tc: np.ndarray,
    offset: float,
    scale: float,
    n_q: int,
    window: tuple[int, int],
    *,
    drift: float = EXTENT_DRIFT,
) -> tuple[int, int]:
    """Where the catalogue's peaks are present, upload frames: the best ``window``
    extended by the best segment of whole seconds by contrast above ``drift`` per peak
    (Kadane's maximum subarray) when the two overlap, so that a sample longer than the
    window is reported whole."""
    step = round(1.0 / FRAME_S)
    edges = np.arange(0, n_q + step, step)
    idx = np.searchsorted(tc, offset + scale * edges)
    best, lo, hi = best_run(np.diff(csum[idx]) - drift * np.diff(ccount[idx]))
    a, b = int(edges[lo]), int(edges[min(hi, edges.size - 1)])
    if best <= 0.0 or b <= window[0] or a >= window[1]:
        return window
    return min(a, window[0]), max(b, window[1])


def best_run(gain: np.ndarray) -> tuple[float, int, int]:
    """The contiguous run of ``gain`` with the largest sum (Kadane's maximum subarray):
    ``(sum, start, stop)``, ``(0.0, 0, 0)`` when no run sums above zero. Vectorised: the
    run ending before ``j`` that sums highest starts after the lowest prefix sum before
    it (the latest one, as Kadane's scan restarts there)."""
    g = np.asarray(gain, np.float64)
    if g.size == 0:
        return 0.0, 0, 0
    prefix = np.concatenate([[0.0], np.cumsum(g)])
    gained = prefix - np.minimum.accumulate(prefix)
    hi = int(np.argmax(gained))
    if gained[hi] <= 0.0:
        return 0.0, 0, 0
    head = prefix[:hi]
    lo = hi - 1 - int(np.argmin(head[::-1]))  # the latest lowest prefix before hi
    return float(gained[hi]), lo, hi
