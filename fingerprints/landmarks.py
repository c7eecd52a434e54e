"""Spectral-peak landmarks robust to pitch shifts, speed changes and time stretches.

Peaks of the log-magnitude STFT (Wang 2003; dpwe's audfprint) are kept as continuous
log-frequencies: semitones above :data:`F_REF_HZ`, sub-bin accurate by parabolic
interpolation. Each anchor peak is combined with two of its nearest later peaks (after
Panako, Six & Leman 2014). Two frequency *differences* do not change under a pitch
shift or a resampling speed change, and the *ratio* of the two time differences does
not change under any uniform time scaling, so the hash of (dp12, dp13, dt12 / dt13)
survives every transformation with one lookup. What the hash drops is kept in the
postings: the anchor's log-frequency (pitch shift = upload minus catalogue) and the
span ``dt13`` (time scale = catalogue span / upload span); the alignment
(:mod:`fingerprints.align`) votes on them.

Hash layout (21 bits): ``ratio`` (5 bits) | ``dp13`` (8 bits) | ``dp12`` (8 bits).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import fft as sp_fft

from fingerprints.jit import on_first_use

SAMPLE_RATE = 11025
"""Analysis sample rate, Hz."""
N_FFT = 1024
HOP = 256
FRAME_S = HOP / SAMPLE_RATE
"""Seconds per STFT frame (about 23.2 ms)."""

F_REF_HZ = 150.0
F_MAX_HZ = 5000.0


@dataclass(frozen=True, slots=True)
class Peaks:
    """Spectral peaks of one clip, sorted by time.

    Attributes
    ----------
    t : ndarray of int32, shape (n,)
        Frame index (frames of :data:`FRAME_S` seconds).
    p : ndarray of float32, shape (n,)
        Log-frequency, semitones above :data:`F_REF_HZ`.
    n_frames : int
        Length of the analysed clip in frames.
    phases : ndarray of uint8, shape (n,), optional
        STFT phase at each peak (:func:`fingerprints.coherence.peak_phases`), kept with
        catalogue tracks for the coherence check; None where not computed.
    """

    t: np.ndarray
    p: np.ndarray
    n_frames: int
    phases: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.t.shape[0])


def _rfft(x: np.ndarray) -> np.ndarray:
    """Row-wise real FFT (``scipy.fft``: pocketfft, in place on the temporary frames)."""
    return sp_fft.rfft(x, axis=1, overwrite_x=True)


_WINDOW = np.hanning(N_FFT).astype(np.float32)
"""The analysis window of every STFT of this module (and of :mod:`fingerprints.coherence`)."""
_SCALE = np.float32(2.0) / _WINDOW.sum()
_CHUNK_FRAMES = 128
"""Frames transformed at a time: the frames, their spectrum and the output stay in cache."""


def stft_frames(samples: np.ndarray) -> np.ndarray:
    """The analysis frames of a clip, before the window.

    Parameters
    ----------
    samples : ndarray, shape (n,)
        Mono audio at :data:`SAMPLE_RATE` Hz; a clip shorter than a frame is zero-padded
        to one.

    Returns
    -------
    ndarray of float32, shape (n_frames, N_FFT)
        A read-only view: frame ``f`` is ``samples[f * HOP : f * HOP + N_FFT]``,
        ``n_frames = 1 + (n - N_FFT) // HOP``.
    """
    x = np.asarray(samples, dtype=np.float32)
    if x.shape[0] < N_FFT:
        x = np.pad(x, (0, N_FFT - x.shape[0]))
    return np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP]


def peak_bins(pitches: np.ndarray) -> np.ndarray:
    """STFT bin of each log-frequency (semitones above :data:`F_REF_HZ`): the bin the
    presence and coherence checks read a catalogue peak at.

    Returns
    -------
    ndarray of int64, shape (n,)
        Bins of an ``N_FFT``-point spectrum at :data:`SAMPLE_RATE` Hz.
    """
    freq = F_REF_HZ * 2.0 ** (np.asarray(pitches, np.float64) / 12.0)
    return np.rint(freq / (SAMPLE_RATE / N_FFT)).astype(np.int64)


def _log_spectrum(
    samples: np.ndarray,
    lo: int,
    hi: int,
    *,
    fold: np.ndarray | None = None,
    power_fold: np.ndarray | None = None,
    power_block: int = 1,
) -> np.ndarray | tuple[np.ndarray, ...]:
    """Columns ``lo:hi`` of :func:`log_spectrogram`, computed chunk by chunk in place
    (element for element the same arithmetic, so bit-identical). With ``fold`` (shape
    ``(hi - lo, k)``), also the linear magnitudes times ``fold``, and with
    ``power_fold`` (shape ``(hi - lo, j)``) the squared magnitudes summed over blocks of
    ``power_block`` frames times it (one row per whole block), taken while they are in
    cache: ``(log_spec, folded)`` or ``(log_spec, folded, power_folded)``."""
    frames = stft_frames(samples)
    n_frames = frames.shape[0]
    out = np.empty((n_frames, hi - lo), np.float32)
    folded = None if fold is None else np.empty((n_frames, fold.shape[1]), np.float32)
    powered = None
    if power_fold is not None:
        if _CHUNK_FRAMES % power_block:
            raise ValueError(f"power_block must divide {_CHUNK_FRAMES}")
        powered = np.empty((n_frames // power_block, power_fold.shape[1]), np.float32)
    for s in range(0, n_frames, _CHUNK_FRAMES):
        spec = _rfft(frames[s : s + _CHUNK_FRAMES] * _WINDOW)
        o = out[s : s + _CHUNK_FRAMES]
        np.abs(spec[:, lo:hi], out=o)
        o *= _SCALE
        if folded is not None:
            np.matmul(o, fold, out=folded[s : s + _CHUNK_FRAMES])
        if powered is not None:
            b0 = s // power_block
            nb = min(o.shape[0] // power_block, powered.shape[0] - b0)
            if nb > 0:
                sq = o[: nb * power_block] ** 2
                blocks = sq.reshape(nb, power_block, -1).sum(axis=1)
                np.matmul(blocks, power_fold, out=powered[b0 : b0 + nb])
        o += np.float32(1e-9)
        np.log10(o, out=o)
        o *= np.float32(20.0)
    if folded is None and powered is None:
        return out
    return tuple(a for a in (out, folded, powered) if a is not None)


def log_spectrogram(samples: np.ndarray) -> np.ndarray:
    """Log-magnitude STFT.

    Parameters
    ----------
    samples : ndarray, shape (n,)
        Mono audio at :data:`SAMPLE_RATE` Hz, full scale 1.0.

    Returns
    -------
    ndarray of float32, shape (n_frames, N_FFT // 2 + 1)
        Magnitude in dB relative to a full-scale sine (a 0 dBFS sine peaks near 0 dB).
    """
    return _log_spectrum(samples, 0, N_FFT // 2 + 1)


def log_spectrogram_folded(
    samples: np.ndarray, weights: np.ndarray, power_weights: np.ndarray, *, block: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`log_spectrogram` and, from the same pass, the linear magnitude spectrum
    (same scale) times ``weights`` and the power spectrum, summed over blocks of
    ``block`` frames, times ``power_weights``.

    Parameters
    ----------
    samples : ndarray, shape (n,)
        Mono audio at :data:`SAMPLE_RATE` Hz.
    weights : ndarray of float32, shape (N_FFT // 2 + 1, k)
        For example pitch-class weights (:func:`fingerprints.cover.chroma_weights`).
    power_weights : ndarray of float32, shape (N_FFT // 2 + 1, j)
        For example semitone bands (:func:`fingerprints.cover.semitone_weights`).
    block : int
        Frames per power block; must divide 128.

    Returns
    -------
    (ndarray, ndarray, ndarray) of float32
        Shapes (n_frames, N_FFT // 2 + 1), (n_frames, k) and (n_frames // block, j).
    """
    w = np.ascontiguousarray(weights, dtype=np.float32)
    pw = np.ascontiguousarray(power_weights, dtype=np.float32)
    return _log_spectrum(samples, 0, N_FFT // 2 + 1, fold=w, power_fold=pw, power_block=block)


def _peak_candidates_py(
    band: np.ndarray,
    threshold: np.ndarray,
    floor: np.float32,
    time_radius: int,
    freq_radius: int,
    out_t: np.ndarray,
    out_k: np.ndarray,
) -> int:
    """The peak candidates of ``band`` (shape (n_frames, n_bins), float32 dB) in row-major
    order: bins ``k`` in ``1 .. n_bins - 2`` whose value is the maximum of the
    ``(2 * time_radius + 1) x (2 * freq_radius + 1)`` neighbourhood clipped at the edges
    (``scipy.ndimage.maximum_filter(..., mode="nearest")`` gives the same maxima: the
    replicated edge values are inside the window already), above ``floor``, above
    ``threshold[t]`` (the frame's median plus the prominence, float32), strictly above the
    bin below and not below the bin above. Writes the frames and the bins *minus one*
    to ``out_t`` and ``out_k`` while they have room, and returns how many candidates
    there are (more than their length: call again with longer ones). The cheap tests
    come first and the neighbourhood scan stops at the first larger value, so most bins
    cost a few comparisons (compiled by numba on first use)."""
    n_frames, n_bins = band.shape
    n = 0
    passed = np.empty(n_bins, np.bool_)
    for t in range(n_frames):
        t0 = max(0, t - time_radius)
        t1 = min(n_frames - 1, t + time_radius)
        thr = threshold[t]
        row = band[t]
        # the cheap tests on the whole row first, without branches (vectorised)
        for k in range(1, n_bins - 1):
            v = row[k]
            passed[k] = (v > floor) & (v > thr) & (v > row[k - 1]) & (v >= row[k + 1])
        for k in range(1, n_bins - 1):
            if not passed[k]:
                continue
            v = row[k]
            k0 = max(0, k - freq_radius)
            k1 = min(n_bins - 1, k + freq_radius)
            is_max = True
            for tt in range(t0, t1 + 1):
                for kk in range(k0, k1 + 1):
                    if band[tt, kk] > v:
                        is_max = False
                        break
                if not is_max:
                    break
            if is_max:
                if n < out_t.shape[0]:
                    out_t[n] = t
                    out_k[n] = k - 1
                n += 1
    return n


_peak_candidates = on_first_use(_peak_candidates_py)
_CANDIDATES_PER_FRAME = 24
"""Room first made for the peak candidates, per frame (music has a few to a dozen)."""


def _row_median(band: np.ndarray) -> np.ndarray:
    """``np.median(band, axis=1, keepdims=True)``; for an odd row length the middle
    element by one partition (the same value, without the copy and the mean)."""
    n = band.shape[1]
    if n % 2 == 0 or band.shape[0] == 0:
        return np.median(band, axis=1, keepdims=True)
    return np.partition(band, n // 2, axis=1)[:, n // 2 : n // 2 + 1]


def extract_peaks(
    samples: np.ndarray,
    *,
    peaks_per_second: float = 24.0,
    floor_db: float = -72.0,
    time_radius: int = 5,
    freq_radius: int = 9,
    prominence_db: float = 6.0,
    spec: np.ndarray | None = None,
) -> Peaks:
    """Pick spectral peaks.

    Parameters
    ----------
    samples : ndarray, shape (n,)
        Mono audio at :data:`SAMPLE_RATE` Hz.
    peaks_per_second : float
        Density cap: per one-second block, the strongest peaks are kept.
    floor_db : float
        Absolute floor, dB re full scale. Peaks below it (near-silence, dither) are
        dropped so that quiet passages cannot match each other.
    time_radius, freq_radius : int
        Half-size of the local-maximum neighbourhood, frames and STFT bins.
    prominence_db : float
        A peak must exceed the median of its frame by this much.
    spec : ndarray, optional
        ``log_spectrogram(samples)`` when the caller already has it.

    Returns
    -------
    Peaks
    """
    return extract_peak_sets(
        samples, (peaks_per_second,), floor_db=floor_db, time_radius=time_radius,
        freq_radius=freq_radius, prominence_db=prominence_db, spec=spec,
    )[0]  # fmt: skip


def extract_peak_sets(
    samples: np.ndarray,
    densities: tuple[float, ...],
    *,
    floor_db: float = -72.0,
    time_radius: int = 5,
    freq_radius: int = 9,
    prominence_db: float = 6.0,
    spec: np.ndarray | None = None,
) -> list[Peaks]:
    """:func:`extract_peaks` at several densities (peaks per second) from one peak
    search: the peaks at each density are exactly those :func:`extract_peaks` gives."""
    hz_per_bin = SAMPLE_RATE / N_FFT
    lo_bin = max(1, int(np.ceil(F_REF_HZ / hz_per_bin)))
    hi_bin = min(N_FFT // 2 + 1 - 2, int(F_MAX_HZ / hz_per_bin))
    if spec is None:
        band = _log_spectrum(samples, lo_bin - 1, hi_bin + 2)
    else:
        band = np.ascontiguousarray(spec[:, lo_bin - 1 : hi_bin + 2])
    n_frames = band.shape[0]
    # the frame's median plus the prominence in float32, as numpy adds them
    threshold = np.ascontiguousarray(_row_median(band)[:, 0] + prominence_db, dtype=np.float32)
    args = (band, threshold, np.float32(floor_db), int(time_radius), int(freq_radius))
    size = _CANDIDATES_PER_FRAME * n_frames
    t, k = np.empty(size, np.intp), np.empty(size, np.intp)
    n = _peak_candidates(*args, t, k)
    if n > size:  # ties in flat loud regions: room for all of them, once more
        t, k = np.empty(n, np.intp), np.empty(n, np.intp)
        _peak_candidates(*args, t, k)
    t, k = t[:n], k[:n]
    return [_capped(band, t, k, n_frames, d, lo_bin) for d in densities]


def _capped(
    band: np.ndarray,
    t: np.ndarray,
    k: np.ndarray,
    n_frames: int,
    peaks_per_second: float,
    lo_bin: int,
) -> Peaks:
    """The strongest candidates per one-second block, sub-bin accurate."""
    if t.size == 0:
        return Peaks(np.empty(0, np.int32), np.empty(0, np.float32), n_frames)
    mag = band[t, k + 1]
    block = (t * FRAME_S).astype(np.int64)
    order = np.lexsort((-mag, block))
    block_sorted = block[order]
    first = np.searchsorted(block_sorted, block_sorted, side="left")
    rank = np.arange(order.size) - first
    keep = np.sort(order[rank < max(1, round(peaks_per_second))])
    t, k = t[keep], k[keep]
    # Parabolic interpolation of the peak on the dB spectrum: sub-bin frequency.
    a, b, c = band[t, k], band[t, k + 1], band[t, k + 2]
    denom = a - 2.0 * b + c
    delta = np.where(np.abs(denom) > 1e-6, 0.5 * (a - c) / np.where(denom == 0, 1, denom), 0.0)
    freq = (lo_bin + k + np.clip(delta, -0.5, 0.5)) * (SAMPLE_RATE / N_FFT)
    p = (12.0 * np.log2(freq / F_REF_HZ)).astype(np.float32)
    return Peaks(t.astype(np.int32), p, n_frames)


PITCH_UNITS = 32
"""Stored anchor log-frequencies are in 1/32 semitone."""


def encode_pitch(p: np.ndarray) -> np.ndarray:
    """Log-frequency in semitones -> uint16 in 1/:data:`PITCH_UNITS` semitone."""
    return np.clip(np.rint(np.asarray(p) * PITCH_UNITS), 0, 65535).astype(np.uint16)


def decode_pitch(code: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode_pitch`, semitones."""
    return np.asarray(code, dtype=np.float32) / PITCH_UNITS


SIGNAL_NAME = "landmarks"
SIGNAL_VERSION = "2"
"""Version 1 was pair hashes queried under a grid of speed/pitch/tempo hypotheses."""

DP_STEP = 1.0 / 6.0
"""Quantisation of frequency differences, semitones."""
DP_MAX = 12.0
"""Largest |frequency difference| to either target, semitones."""
RATIO_BINS = 24
"""Quantisation of dt12 / dt13 in (0, 1)."""
DT_MIN = 2
DT_MAX = 80
"""Target zone in time, frames (catalogue side)."""
_RATIO_BITS = 5
_DP_BITS = 8
HASH_BITS = _RATIO_BITS + 2 * _DP_BITS


@dataclass(frozen=True, slots=True)
class Triplets:
    """Hashed triplets of one clip; parallel arrays of shape (m,).

    ``hashes`` (uint32), anchor frame ``times`` (uint32), anchor log-frequency code
    ``pitches`` (uint16, see :func:`encode_pitch`), anchor to
    second target span ``spans`` (uint16, frames); ``n_frames`` is the clip length;
    ``peaks`` the peaks kept with catalogue tracks for the presence check of
    :mod:`fingerprints.presence` (:func:`hash_triplets` sets the peaks it hashed;
    :func:`fingerprint` the denser :data:`PRESENCE_PEAKS_PER_SECOND` set).
    """

    hashes: np.ndarray
    times: np.ndarray
    pitches: np.ndarray
    spans: np.ndarray
    n_frames: int
    peaks: Peaks | None = None

    @property
    def duration_s(self) -> float:
        return self.n_frames * FRAME_S

    def __len__(self) -> int:
        return int(self.hashes.shape[0])


def _targets(peaks: Peaks, fan_out: int, dt_max: int) -> np.ndarray:
    """Indexes of the ``fan_out`` nearest later peaks in the target zone, -1 if fewer.

    Returns
    -------
    ndarray of int64, shape (n_peaks, fan_out)
    """
    n = len(peaks)
    look = 4 * fan_out + 8
    i = np.arange(n)[:, None]
    j = i + np.arange(1, look + 1)[None, :]
    inside = j < n
    j = np.minimum(j, max(n - 1, 0))
    dt = peaks.t[j] - peaks.t[i]
    dp = peaks.p[j] - peaks.p[i]
    ok = inside & (dt >= DT_MIN) & (dt <= dt_max) & (np.abs(dp) <= DP_MAX)
    rank = np.cumsum(ok, axis=1) - 1
    ok &= rank < fan_out
    out = np.full((n, fan_out), -1, np.int64)
    rows, cols = np.nonzero(ok)
    out[rows, rank[rows, cols]] = j[rows, cols]
    return out


def hash_triplets(peaks: Peaks, *, fan_out: int = 4, dt_max: int = DT_MAX) -> Triplets:
    """Hash every anchor with every pair of its ``fan_out`` nearest targets.

    Parameters
    ----------
    peaks : Peaks
    fan_out : int
        Targets per anchor; each anchor gives up to ``fan_out * (fan_out - 1) / 2``
        triplets.
    dt_max : int
        Farthest target, frames.
    """
    empty = Triplets(
        np.empty(0, np.uint32), np.empty(0, np.uint32), np.empty(0, np.uint16),
        np.empty(0, np.uint16), peaks.n_frames, peaks,
    )  # fmt: skip
    if len(peaks) < 3:
        return empty
    tg = _targets(peaks, fan_out, dt_max)
    a_parts, b_parts, c_parts = [], [], []
    for x in range(fan_out):
        for y in range(x + 1, fan_out):
            m = (tg[:, x] >= 0) & (tg[:, y] >= 0)
            a_parts.append(np.flatnonzero(m))
            b_parts.append(tg[m, x])
            c_parts.append(tg[m, y])
    a, b, c = (np.concatenate(v) for v in (a_parts, b_parts, c_parts))
    t, p = peaks.t, peaks.p
    dt12 = (t[b] - t[a]).astype(np.float32)
    dt13 = (t[c] - t[a]).astype(np.float32)
    keep = dt13 > dt12
    a, b, c, dt12, dt13 = a[keep], b[keep], c[keep], dt12[keep], dt13[keep]
    if a.size == 0:
        return empty
    q12 = np.floor((p[b] - p[a] + DP_MAX) / DP_STEP).astype(np.uint32)
    q13 = np.floor((p[c] - p[a] + DP_MAX) / DP_STEP).astype(np.uint32)
    qr = np.minimum(np.floor(dt12 / dt13 * RATIO_BINS), RATIO_BINS - 1).astype(np.uint32)
    hashes = (qr << (2 * _DP_BITS)) | (q13 << _DP_BITS) | q12
    order = np.argsort(t[a], kind="stable")
    return Triplets(
        hashes=hashes[order],
        times=t[a][order].astype(np.uint32),
        pitches=encode_pitch(p[a][order]),
        spans=dt13[order].astype(np.uint16),
        n_frames=peaks.n_frames,
        peaks=peaks,
    )


CATALOGUE_PEAKS_PER_SECOND = 24.0
"""Peak density of the catalogue's triplets."""
PRESENCE_PEAKS_PER_SECOND = 48.0
"""Peak density kept with each catalogue track for the presence check: twice the
triplets' peaks, so the check sums twice the evidence (on the development corpus the
largest chance z-score fell and true samples scored higher: docs/benchmarks.md)."""


def fingerprint(
    samples: np.ndarray, *, fan_out: int = 4, spec: np.ndarray | None = None
) -> Triplets:
    """Catalogue-side triplets of a clip at :data:`SAMPLE_RATE` Hz, with the denser
    peaks of the presence check (one peak search for both) and their STFT phases for the
    coherence check. ``spec`` is ``log_spectrogram(samples)`` when the caller already
    has it (the same triplets)."""
    from fingerprints.coherence import peak_phases  # it imports this module

    hashed, kept = extract_peak_sets(
        samples, (CATALOGUE_PEAKS_PER_SECOND, PRESENCE_PEAKS_PER_SECOND), spec=spec
    )
    # the phase at the bin the stored (quantised) pitch maps to, as the check reads it
    phases = peak_phases(samples, kept.t, decode_pitch(encode_pitch(kept.p)))
    return replace(hash_triplets(hashed, fan_out=fan_out), peaks=replace(kept, phases=phases))


def query_triplets(
    samples: np.ndarray,
    *,
    fan_out: int = 10,
    peaks_per_second: float = 36.0,
    max_scale: float = 1.15,
    spec: np.ndarray | None = None,
) -> Triplets:
    """Query-side triplets.

    The upload is hashed with a higher peak density and a wider fan-out than the
    catalogue: when a catalogue excerpt sits under other material, the excerpt's peaks
    are interleaved with the bed's, and only a query that enumerates more target pairs
    per anchor still contains the catalogue's triplets. Wider settings find more
    samples under loud beds at a steep cost in query time (docs/benchmarks.md). The
    target zone is widened for uploads slowed down by up to ``max_scale``. ``spec`` is
    ``log_spectrogram(samples)`` when the caller already has it.
    """
    peaks = extract_peaks(samples, peaks_per_second=peaks_per_second, spec=spec)
    return hash_triplets(peaks, fan_out=fan_out, dt_max=int(np.ceil(DT_MAX * max_scale)))
