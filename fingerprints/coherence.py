"""Third check for samples: is the catalogue recording's *waveform* in the upload?

A sample copied into new material keeps the catalogue recording's phase: mixing adds
signals, so wherever the excerpt is louder than the bed at one of the catalogue's
spectral peaks, the upload's STFT phase there equals the catalogue's, rotated by
``2 pi k eps / N_FFT`` for a delay of ``eps`` samples between the two frame grids (the
same delay for every peak of one alignment). Unrelated music has independent phases. So
for a hypothesised alignment the per-peak phase differences, corrected for the best
common delay, add up coherently for a sample and like a random walk for anything else:
a generalised cross-correlation with phase transform (GCC-PHAT; Knapp & Carter 1976)
evaluated at the catalogue's peaks only.

The statistic is the real part of that sum over a window of catalogue peaks divided by
``sqrt(n / 2)`` (its standard deviation when the phases are independent): about 4-5 at
the best of many chance alignments, up to ``sqrt(2 n)`` (28 for 8 s at 48 peaks per
second) for a sample louder than its bed, and, on the development corpus, 17-28 for
samples 3-12 dB under one (docs/benchmarks.md). Gain, equalisation and lossy coding
keep phase where the excerpt dominates; a pitch shift or time stretch without
resampling does not, and is left to :mod:`fingerprints.presence`. Only alignments at
the original speed are checked (a resampled speed change would need the catalogue
audio resampled too).

The catalogue side is one byte per stored peak (:func:`peak_phases`, computed at
ingest); the upload side is its STFT where the candidates reach (:class:`UploadSpectrum`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import fft as sp_fft

from fingerprints.jit import on_first_use
from fingerprints.landmarks import _WINDOW, FRAME_S, HOP, N_FFT, peak_bins, stft_frames
from fingerprints.presence import best_run

PHASE_LEVELS = 256
"""Phases are stored as uint8 codes: ``code * 2 pi / 256`` radians (error under 0.013)."""
WINDOW_S = 8.0
"""Window over which coherence is summed, seconds of upload time (as the presence check)."""
SEARCH_FRAMES = 3
"""Whole-frame offsets searched around a cell's offset, +- frames."""
MAX_DELAY = HOP // 2 + 32
"""Largest sub-frame delay searched, +- samples at :data:`SAMPLE_RATE` (half a hop and a
margin: a larger delay is the next whole-frame offset)."""
MIN_PEAKS = 16
"""Fewer catalogue peaks in a window than this are not scored."""
EXTENT_DRIFT = 0.3
"""Mean coherence per catalogue peak above which a run of peaks counts towards the
reported extent of a sample (a fully coherent peak contributes 1)."""
MAX_SCALE_ERROR = 0.03
"""Cells whose time scale is within this of 1 are checked at exactly 1 (the vote's scale
bins are 2 % wide and every hit votes in three of them)."""
MAX_PITCH_SHIFT = 0.5
"""Cells whose pitch shift is within this many semitones of 0 are checked."""
_TWO_PI = 2.0 * np.pi
_UNIT = np.exp(1j * _TWO_PI * np.arange(PHASE_LEVELS) / PHASE_LEVELS).astype(np.complex64)
"""Unit phasor of every phase code."""


def _encode(angle: np.ndarray) -> np.ndarray:
    """Radians -> uint8 phase codes."""
    return (np.rint(angle * (PHASE_LEVELS / _TWO_PI)).astype(np.int64) % PHASE_LEVELS).astype(
        np.uint8
    )


def _dft_at_py(
    frames_view: np.ndarray,
    window: np.ndarray,
    cos_table: np.ndarray,
    sin_table: np.ndarray,
    frames: np.ndarray,
    bins: np.ndarray,
) -> np.ndarray:
    """Angle of the windowed DFT of frame ``frames[i]`` at bin ``bins[i]``, radians: the
    phase of ``rfft(frames_view[f] * window)[k]``, one bin at a time from
    the tables of ``cos`` and ``sin`` of ``2 pi j / N_FFT`` (compiled by numba on first
    use)."""
    n = window.shape[0]
    out = np.empty(frames.shape[0], np.float64)
    for i in range(frames.shape[0]):
        row = frames_view[frames[i]]
        k = bins[i]
        re = np.float32(0.0)
        im = np.float32(0.0)
        j = 0
        for m in range(n):
            v = row[m] * window[m]
            re += v * cos_table[j]
            im -= v * sin_table[j]
            j += k
            if j >= n:
                j -= n
        out[i] = np.arctan2(im, re)
    return out


_COS = np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT).astype(np.float32)
_SIN = np.sin(2.0 * np.pi * np.arange(N_FFT) / N_FFT).astype(np.float32)
_dft_at = on_first_use(_dft_at_py)


def peak_phases(samples: np.ndarray, times: np.ndarray, pitches: np.ndarray) -> np.ndarray:
    """STFT phase of a clip at its peaks (the catalogue side of the check).

    Parameters
    ----------
    samples : ndarray, shape (n,)
        Mono audio at :data:`SAMPLE_RATE` Hz, the clip the peaks were picked from.
    times : ndarray of int, shape (p,)
        Peak frames (:data:`~fingerprints.landmarks.FRAME_S` seconds each).
    pitches : ndarray of float, shape (p,)
        Peak log-frequencies as stored (decoded pitch codes), semitones.

    Returns
    -------
    ndarray of uint8, shape (p,)
        Phase codes (:data:`PHASE_LEVELS` per turn).
    """
    frames = stft_frames(samples)
    t = np.asarray(times, np.int64)
    if t.size and int(t.max()) >= frames.shape[0]:
        raise ValueError("a peak frame lies beyond the clip")
    k = np.clip(peak_bins(pitches), 0, N_FFT // 2)
    return _encode(_dft_at(frames, _WINDOW, _COS, _SIN, t, k))


class UploadSpectrum:
    """The upload side of the check: its STFT (frames as
    :func:`fingerprints.landmarks.log_spectrogram`), computed in blocks of frames when a
    check first reads them and kept for the next, so that an upload pays for the parts
    its candidates reach (a 30 s region around each) and no angle is ever computed.

    Parameters
    ----------
    samples : ndarray, shape (n,)
        Mono audio at :data:`SAMPLE_RATE` Hz.
    """

    BLOCK = 512
    """Frames transformed at a time (2.1 MB of complex64 each)."""

    def __init__(self, samples: np.ndarray) -> None:
        self._frames = stft_frames(samples)
        self.n_frames = self._frames.shape[0]
        self._blocks: dict[int, np.ndarray] = {}

    def _block(self, b: int) -> np.ndarray:
        got = self._blocks.get(b)
        if got is None:
            rows = self._frames[b * self.BLOCK : (b + 1) * self.BLOCK]
            got = sp_fft.rfft(rows * _WINDOW, axis=1)  # complex64 from float32 frames
            self._blocks[b] = got
        return got

    def phasors(self, frames: np.ndarray, bins: np.ndarray) -> np.ndarray:
        """Unit phasors of the STFT at ``(frames[i], bins[i])``, ``frames`` sorted.

        Returns
        -------
        ndarray of complex64, shape (p,)
            ``X / |X|`` (0 where the spectrum is 0).
        """
        out = np.empty(frames.shape[0], np.complex64)
        if frames.size == 0:
            return out
        # frames are sorted: each block's are one slice
        first, last = int(frames[0]) // self.BLOCK, int(frames[-1]) // self.BLOCK
        cuts = np.searchsorted(frames, np.arange(first, last + 2) * self.BLOCK)
        for b, (i, j) in enumerate(itertools.pairwise(cuts), start=first):
            if j > i:
                out[i:j] = self._block(b)[frames[i:j] - b * self.BLOCK, bins[i:j]]
        out /= np.maximum(np.abs(out), np.float32(1e-30))  # 0 stays 0
        return out


@dataclass(frozen=True, slots=True)
class Coherence:
    """The verified waveform alignment of one candidate.

    Attributes
    ----------
    z : float
        Coherent sum of the best window over ``sqrt(n / 2)`` (the raw score).
    offset_frames : int
        Catalogue frame minus upload frame (time scale 1).
    delay_samples : float
        The rest of the alignment below a frame: catalogue sample = upload sample +
        ``offset_frames * HOP + delay_samples``.
    query_start_s, query_end_s : float
        Where the catalogue's waveform is present in the upload, seconds.
    """

    z: float
    offset_frames: int
    delay_samples: float
    query_start_s: float
    query_end_s: float


def _best_delay(d: np.ndarray, bins: np.ndarray, *, oversample: int = 4) -> tuple[float, float]:
    """The common delay (samples) that best aligns the phase differences ``d`` (unit
    phasors at STFT ``bins``) and the sign of their sum there: the peak of their
    GCC-PHAT within +-:data:`MAX_DELAY`."""
    z = np.bincount(bins, weights=d.real, minlength=N_FFT // 2 + 1) + 1j * np.bincount(
        bins, weights=d.imag, minlength=N_FFT // 2 + 1
    )
    n = N_FFT * oversample
    padded = np.zeros(n // 2 + 1, np.complex128)
    padded[: N_FFT // 2 + 1] = np.conj(z)
    r = np.fft.irfft(padded, n)  # r[j] is proportional to Re sum d e^{-i 2 pi k j / n}
    lags = np.arange(n) / oversample
    lags = np.where(lags >= N_FFT / 2, lags - N_FFT, lags)
    allowed = np.flatnonzero(np.abs(lags) <= MAX_DELAY)
    j = int(allowed[np.argmax(np.abs(r[allowed]))])
    return float(lags[j]), float(np.sign(r[j]) or 1.0)


def verify(
    spectrum: UploadSpectrum,
    peak_times: np.ndarray,
    peak_bins_: np.ndarray,
    peak_codes: np.ndarray,
    *,
    offset_frames: float,
    region: tuple[int, int] | None = None,
    window_s: float = WINDOW_S,
    search_frames: int = SEARCH_FRAMES,
) -> Coherence | None:
    """Phase coherence of a catalogue track's peaks with an upload at one alignment
    (time scale 1, no pitch shift).

    Parameters
    ----------
    spectrum : UploadSpectrum
        The upload's.
    peak_times : ndarray of int, shape (p,)
        The catalogue track's peak frames, sorted.
    peak_bins_ : ndarray of int, shape (p,)
        Their STFT bins (:func:`peak_bins`).
    peak_codes : ndarray of uint8, shape (p,)
        Their phase codes (:func:`peak_phases`).
    offset_frames : float
        Hypothesised catalogue frame minus upload frame; whole-frame offsets within
        +-``search_frames`` of it are searched.
    region : (int, int), optional
        Upload frames to look in (all of them by default).
    window_s : float
        Window of the score, seconds.

    Returns
    -------
    Coherence or None
        None when no window holds :data:`MIN_PEAKS` catalogue peaks.
    """
    n_q = spectrum.n_frames
    q_lo, q_hi = (0, n_q) if region is None else (max(0, region[0]), min(n_q, region[1]))
    t_all = np.asarray(peak_times, np.int64)
    width = round(window_s / FRAME_S)
    step = round(1.0 / FRAME_S)
    best: tuple[float, int, float, np.ndarray, np.ndarray, int] | None = None
    center = round(float(offset_frames))
    for off in range(center - search_frames, center + search_frames + 1):
        lo, hi = np.searchsorted(t_all, [q_lo + off, q_hi + off])
        if hi - lo < MIN_PEAKS:
            continue
        tq = t_all[lo:hi] - off
        k = np.asarray(peak_bins_[lo:hi], np.int64)
        d = spectrum.phasors(tq, k) * np.conj(_UNIT[np.asarray(peak_codes[lo:hi])])
        delay, sign = _best_delay(d, k)
        c = sign * np.real(d * np.exp(-1j * _TWO_PI * k * delay / N_FFT))
        csum = np.concatenate([[0.0], np.cumsum(c)])
        starts = np.arange(q_lo, max(q_lo, q_hi - width) + 1, step)
        a = np.searchsorted(tq, starts)
        b = np.searchsorted(tq, starts + width)
        n = b - a
        z = np.where(n >= MIN_PEAKS, (csum[b] - csum[a]) / np.sqrt(np.maximum(n, 1) / 2.0), -np.inf)
        i = int(np.argmax(z))
        if np.isfinite(z[i]) and (best is None or z[i] > best[0]):
            best = (float(z[i]), off, delay, c, tq, int(starts[i]))
    if best is None:
        return None
    score, off, delay, c, tq, start = best
    q0, q1 = _extent(c, tq, q_hi, (start, start + width))  # of the best offset only
    return Coherence(
        z=score,
        offset_frames=off,
        delay_samples=delay,
        query_start_s=q0 * FRAME_S,
        query_end_s=q1 * FRAME_S,
    )


def _extent(c: np.ndarray, tq: np.ndarray, q_hi: int, window: tuple[int, int]) -> tuple[int, int]:
    """Where the waveform is present: the run of consecutive peaks (upload frames ``tq``,
    coherences ``c``) whose coherence minus :data:`EXTENT_DRIFT` sums highest (Kadane's
    maximum subarray, at the resolution of the peaks, so the edges fall within a peak
    or two of where the sample starts and ends), when it overlaps the best window; the
    window otherwise. A sample longer or shorter than the window is reported as it is."""
    best, lo, hi = best_run(c - EXTENT_DRIFT)
    if best > 0.0:
        a, b = int(tq[lo]), int(tq[hi - 1]) + 1
        if b > window[0] and a < window[1]:
            return a, min(b, q_hi)
    return window[0], min(window[1], q_hi)
