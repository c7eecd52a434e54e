"""Spectral and phase traces that audio generators leave, as a fixed feature vector.

The features are meant for a small classifier (:mod:`fingerprints.ai_model`) that tells
generator-style audio (a spectrogram decoded by Griffin-Lim or by a neural vocoder with
upsampling layers) from recorded or synthesised music. They are computed from one STFT
(2048-point Hann window, hop 512, at 44.1 kHz) of a mono window of audio, but for the
mel-span residuals, which are measured at Riffusion's own window and FFT length:

* **band limit**: where the long-term spectrum ends (``edge_khz``), how steep and deep the
  edge is, the drop across 10 kHz (Riffusion's mel image stops there), the energy above
  11 kHz, and the original file's own Nyquist frequency: a 22.05 kHz file ends at
  11 kHz for an innocent reason, which the classifier must be able to see;
* **periodic spectral peaks**: mirror and shift correlations of the detrended long-term
  spectrum around fs/4, fs/8 and fs/16 and its strongest cepstral peak (the images that
  zero insertion / transposed convolutions leave), and persistent spectral lines;
* **phase coherence**: bins next to a spectral peak of a real partial share its
  instantaneous frequency; Griffin-Lim's phase estimate smears it. The median spread of
  the instantaneous frequency across each peak's neighbours (in bins) per band, its
  frame-to-frame jitter, and the frame-to-frame flutter of peak levels;
* **mel-span residual at Riffusion's resolution**: Riffusion's decoder turns a 512-bin
  HTK mel image (0-10 kHz) of a 100 ms Hann window zero-padded to a 400 ms FFT back into
  a linear magnitude by least squares, so the magnitude Griffin-Lim is asked to match
  lies in the span of the 512 triangular filters: above 1.5 kHz, where a filter covers
  many 2.5 Hz bins, it is smooth between the filter centres (12-40 Hz apart), and the
  noise-like fine structure of real audio (10 Hz and finer at this window) is gone. The
  features are the share of each frame's magnitude energy outside that span (dB; median
  over frames) per band, at that window and FFT length;
* **ordinary statistics**: spectral flatness per band, fine-structure roughness,
  centroid and roll-off, onset sharpness (Griffin-Lim smears transients), spectral flux,
  waveform crest and kurtosis, and the largest flux jump at a 5.12 s tile period
  (Riffusion decodes 5.12 s tiles one by one: loop or tile boundaries).

The 8-bit power-0.25 quantisation of Riffusion's image is not measured directly: after
Griffin-Lim and re-analysis with another STFT its grid is not recoverable; it shows only
through the deep stop band and the flatness features.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft as sfft
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import median_filter, uniform_filter1d

FEATURE_VERSION = "2"
"""Bumped whenever a feature's definition changes (models are trained per version)."""
SAMPLE_RATE = 44100
"""The rate the features are defined at, Hz."""
N_FFT = 2048
HOP = 512
MIN_SECONDS = 1.0
"""Shorter input gives no features (the detector itself needs 5 s)."""
SILENCE_RMS = 1e-4
"""RMS (full scale 1.0) below which a window is silence: no features (-80 dBFS)."""
TILE_FRAMES = 441
"""5.12 s (Riffusion's tile) in frames of :data:`HOP` at 44.1 kHz."""

FEATURE_NAMES: tuple[str, ...] = (
    "edge_khz",
    "edge_drop_db",
    "edge_drop_khz",
    "drop_10k_db",
    "stopband_depth_db",
    "hf_over_mid_db",
    "native_nyquist_khz",
    "edge_below_nyquist_khz",
    "mirror_corr",
    "shift_corr",
    "cepstral_peak",
    "line_strength_db",
    "if_spread_low",
    "if_spread_mid",
    "if_spread_high",
    "if_jitter",
    "level_flutter_db",
    "flatness_low",
    "flatness_mid",
    "flatness_high",
    "fine_rough_low_db",
    "fine_rough_high_db",
    "centroid_khz",
    "rolloff_khz",
    "onset_sharpness_db",
    "flux",
    "crest_db",
    "kurtosis",
    "tile_flux_z",
    "mel_span_resid_low_db",
    "mel_span_resid_mid_db",
    "mel_span_resid_high_db",
    "mel_span_resid_all_db",
)
"""Names of the entries of :func:`trace_features`' vector, in order."""

_BANDS_HZ = ((200.0, 2000.0), (2000.0, 5000.0), (5000.0, 10000.0))
SPAN_WIN = 4410
"""Riffusion's analysis window, samples at 44.1 kHz (100 ms Hann)."""
SPAN_N_FFT = 17640
"""Riffusion's padded FFT length (400 ms)."""
SPAN_HOP = 2205
"""Hop of the mel-span analysis (50 ms; Riffusion's own 10 ms hop costs 5x more and
measures the same)."""
SPAN_N_MELS = 512
SPAN_F_MAX = 10000.0
_SPAN_BANDS_HZ = ((1500.0, 3000.0), (3000.0, 6000.0), (6000.0, 9800.0))
_WINDOW = np.hanning(N_FFT + 1)[:-1].astype(np.float32)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 8:
        return 0.0
    a = a - a.mean()
    b = b - b.mean()
    d = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / d) if d > 0 else 0.0


def _princarg(p: np.ndarray) -> np.ndarray:
    return (p + np.pi) % (2 * np.pi) - np.pi


def _instantaneous_bins(Xp: np.ndarray, pk: np.ndarray) -> np.ndarray:
    """Phase-vocoder instantaneous frequency, bins, of frames 1.. of ``Xp`` (shape
    (n_frames, kp)) where the features read it: at the spectral peaks ``pk`` (shape
    (n_frames - 1, kp)) and their two neighbours in frequency; NaN elsewhere. The
    arctangent is most of the cost, and peaks are a few per cent of the bins."""
    need = pk.copy()
    need[:, 1:] |= pk[:, :-1]
    need[:, :-1] |= pk[:, 1:]
    t, j = np.nonzero(need)
    jf = j.astype(np.float32)
    dphi = np.angle(Xp[t + 1, j] * np.conj(Xp[t, j])) - np.float32(2 * np.pi * HOP / N_FFT) * jf
    inst = np.full(pk.shape, np.nan, dtype=np.float32)
    inst[t, j] = jf + _princarg(dphi) * np.float32(N_FFT / (2 * np.pi * HOP))
    return inst


@lru_cache(maxsize=1)
def _span_bases() -> tuple[np.ndarray, list[tuple[int, int, np.ndarray]]]:
    """The analysis window and, per band of :data:`_SPAN_BANDS_HZ`, its FFT bin range
    and an orthonormal basis (bins x filters) of Riffusion's mel filters restricted to
    it (the filters that touch the band)."""
    from fingerprints.mel import htk_mel_filterbank

    fb = htk_mel_filterbank(
        sample_rate=SAMPLE_RATE, n_fft=SPAN_N_FFT, n_mels=SPAN_N_MELS, f_max=SPAN_F_MAX
    ).astype(np.float64)
    out = []
    for f0, f1 in _SPAN_BANDS_HZ:
        b0, b1 = round(f0 * SPAN_N_FFT / SAMPLE_RATE), round(f1 * SPAN_N_FFT / SAMPLE_RATE)
        sub = fb[b0:b1]
        q, _ = np.linalg.qr(sub[:, np.nonzero(sub.max(axis=0) > 0)[0]])
        out.append((b0, b1, q.astype(np.float32)))
    win = np.hanning(SPAN_WIN + 1)[:-1].astype(np.float32)  # periodic, as Riffusion's
    return win, out


def mel_span_residuals(x: np.ndarray) -> np.ndarray:
    """Share of the magnitude energy outside the span of Riffusion's mel filters.

    Parameters
    ----------
    x : ndarray of float32, shape (n,)
        Mono audio at 44.1 kHz, peak-normalised; at least one :data:`SPAN_WIN`.

    Returns
    -------
    ndarray of float64, shape (4,)
        Median over frames of ``10 log10(residual energy / energy)`` of each band of
        :data:`_SPAN_BANDS_HZ` (frames where the band is more than 60 dB under its
        loudest frame are left out), and the energy-weighted value over the three
        bands together. 0 dB (nothing in the span) when a band has under 3 frames.
    """
    win, bases = _span_bases()
    if x.size < SPAN_WIN:
        return np.zeros(len(bases) + 1)
    frames = sliding_window_view(x, SPAN_WIN)[::SPAN_HOP] * win[None, :]
    M = np.abs(sfft.rfft(frames, n=SPAN_N_FFT, axis=1)[:, : bases[-1][1]])
    out, res_tot, en_tot = [], 0.0, 0.0
    for b0, b1, q in bases:
        m = M[:, b0:b1]
        en = (m * m).sum(axis=1, dtype=np.float64)
        keep = en > en.max() * 1e-6
        if keep.sum() < 3:
            out.append(0.0)
            continue
        proj = m[keep] @ q
        res = np.maximum(en[keep] - (proj * proj).sum(axis=1, dtype=np.float64), 0.0)
        ratio = np.maximum(res / (en[keep] + 1e-30), 1e-6)
        out.append(float(10 * np.log10(np.median(ratio))))
        res_tot += float(res.sum())
        en_tot += float(en[keep].sum())
    out.append(float(10 * np.log10(max(res_tot / en_tot, 1e-6))) if en_tot > 0 else 0.0)
    return np.asarray(out, dtype=np.float64)


def trace_features(
    samples: np.ndarray,
    *,
    sample_rate: int = SAMPLE_RATE,
    native_rate: int | None = None,
) -> np.ndarray | None:
    """The generator-trace feature vector of one window of audio.

    Parameters
    ----------
    samples : ndarray of float32, shape (n,)
        Mono audio at ``sample_rate``; at least :data:`MIN_SECONDS`. The level does not
        matter (the window is peak-normalised).
    sample_rate : int
        Must be :data:`SAMPLE_RATE` (44.1 kHz): the features are defined there.
    native_rate : int, optional
        Sample rate of the original file, Hz (None: taken as 44.1 kHz).

    Returns
    -------
    ndarray of float64, shape (len(FEATURE_NAMES),) or None
        None for windows that are too short or silent (RMS below :data:`SILENCE_RMS`).
    """
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"trace features are defined at {SAMPLE_RATE} Hz, not {sample_rate}")
    x = np.nan_to_num(np.asarray(samples, dtype=np.float32).ravel())
    if x.size < MIN_SECONDS * sample_rate:
        return None
    x = x - float(x.mean())
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    if rms < SILENCE_RMS:
        return None
    x = x / (float(np.max(np.abs(x))) + 1e-12)
    sr = sample_rate
    nb = N_FFT // 2 + 1
    hz_per_bin = sr / N_FFT
    freqs = np.arange(nb) * hz_per_bin

    def b(hz: float) -> int:
        return int(min(nb - 1, max(0, round(hz / hz_per_bin))))

    frames = sliding_window_view(x, N_FFT)[::HOP]
    X = sfft.rfft(frames * _WINDOW[None, :], axis=1)  # complex64 (float32 input)
    P = X.real**2 + X.imag**2 + np.float32(1e-14)
    e = P.sum(axis=1)
    active = e >= np.percentile(e, 90) * 1e-4  # frames within 40 dB of the loud ones
    if active.sum() < 4:
        active = np.ones_like(active)
    ltas = P[active].mean(axis=0, dtype=np.float64)
    L = 10 * np.log10(ltas)
    Ls = uniform_filter1d(L, 5)
    ref = float(np.percentile(Ls[b(100) : b(5000)], 95))
    kb = b(11000)  # per-frame statistics look below 11 kHz only
    Pa = P[active][:, :kb]

    # ---- band limit
    above = np.nonzero(Ls > ref - 45.0)[0]
    edge_bin = int(above[-1]) if above.size else b(5000)
    edge_khz = freqs[edge_bin] / 1000
    lo, hi = b(2000), nb - 11
    drops = Ls[lo - 10 : hi - 10] - Ls[lo + 10 : hi + 10]
    j = int(np.argmax(drops))
    edge_drop_db = float(drops[j])
    edge_drop_khz = freqs[lo + j] / 1000
    drop_10k = float(L[b(9200) : b(9800)].mean() - L[b(10200) : b(10800)].mean())
    s0 = min(nb - 2, edge_bin + b(500))
    s1 = min(nb, max(s0 + 2, edge_bin + b(2500)))
    stopband = float(Ls[s0:s1].mean() - ref)
    hf = float(10 * np.log10(ltas[b(11000) : b(16000)].sum() / ltas[b(1000) : b(8000)].sum()))
    nyq = (min(native_rate, sr) if native_rate else sr) / 2000.0
    edge_below = nyq - edge_khz

    # ---- periodic peaks (images of upsampling) on the detrended spectrum within the band
    r = L - median_filter(L, size=31, mode="nearest")
    top = max(edge_bin, b(4000))
    mirror = 0.0
    for c in (b(sr / 4), b(sr / 8), b(sr / 16)):
        w = min(c, top - c) - 2
        if w >= 16:
            mirror = max(mirror, _corr(r[c - w : c][::-1], r[c + 1 : c + 1 + w]))
    shift = 0.0
    for p in (b(sr / 4), b(sr / 8), b(sr / 16)):
        if top - p > 24:
            shift = max(shift, _corr(r[8 : top - p], r[8 + p : top]))
    seg = r[8:top]
    cep = np.abs(sfft.rfft((seg - seg.mean()) * np.hanning(seg.size)))
    cep_peak = (
        float(np.log10(cep[4:].max() / (np.median(cep[4:]) + 1e-12))) if cep.size > 8 else 0.0
    )
    Ld = 10 * np.log10(Pa)
    resid_t = Ld - uniform_filter1d(Ld, 15, axis=1)
    # per-bin medians over frames, on a bin-major copy (partitions of contiguous rows)
    line = float(np.median(resid_t[:, b(100) : min(top, kb)].T.copy(), axis=1).max())

    # ---- phase coherence at spectral peaks (below 10 kHz)
    kp = b(10000) + 2
    Xp = X[:, :kp]
    Pt = P[1:, :kp]
    fmax = Pt.max(axis=1, keepdims=True)
    pk = np.zeros(Pt.shape, dtype=bool)
    c = Pt[:, 2:-2]
    pk[:, 2:-2] = (
        (c > Pt[:, 1:-3])
        & (c >= Pt[:, 3:-1])
        & (c > 4 * Pt[:, :-4])
        & (c > 4 * Pt[:, 4:])
        & (c > 1e-5 * fmax)
    )
    pk &= active[1:, None]
    inst = _instantaneous_bins(Xp, pk)
    t, j = np.nonzero(pk)  # peaks are never in the two outer bins
    ic = inst[t, j]
    spread = 0.5 * (np.abs(inst[t, j - 1] - ic) + np.abs(inst[t, j + 1] - ic))
    spreads = []
    for f0, f1 in _BANDS_HZ:
        sel = spread[(j >= b(f0)) & (j < min(b(f1), edge_bin))]
        spreads.append(float(np.median(sel)) if sel.size >= 10 else 1.0)
    both = pk[1:] & pk[:-1]
    jit = np.abs(inst[1:] - inst[:-1])[both]
    if_jitter = float(np.median(jit)) if jit.size >= 10 else 1.0
    tri = pk[1:-1] & pk[:-2] & pk[2:]
    if tri.sum() >= 10:
        rr, jj = np.nonzero(tri)  # row-major: the order of a boolean mask
        L0, L1, L2 = (10 * np.log10(Pt[rr + d, jj]) for d in (0, 1, 2))
        flutter = float(np.median(np.abs(L2 - 2 * L1 + L0)))
    else:
        flutter = 6.0

    # ---- ordinary spectral statistics
    flat = []
    lnP = Ld * np.float32(np.log(10) / 10)
    for f0, f1 in ((0.0, 2000.0), (2000.0, 5000.0), (5000.0, 10000.0)):
        sl = slice(max(1, b(f0)), b(f1))
        gm = np.exp(lnP[:, sl].mean(axis=1))
        am = Pa[:, sl].mean(axis=1)
        flat.append(float(np.log10(np.median(gm / am) + 1e-12)))
    rough_low = float(np.median(resid_t[:, b(1000) : b(3000)].std(axis=1)))
    rough_high = float(np.median(resid_t[:, b(5000) : b(9500)].std(axis=1)))
    Pf = P[active]
    tot = Pf.sum(axis=1)
    cent = float(np.median((Pf @ freqs.astype(np.float32)) / tot)) / 1000
    cum = np.cumsum(Pf[:, ::4], axis=1)
    roll = float(np.median(np.argmax(cum >= 0.95 * cum[:, -1:], axis=1))) * 4 * hz_per_bin / 1000
    band = 10 * np.log10(P[:, : max(b(10000), 2)].sum(axis=1))
    de = np.diff(band)
    onset = float(np.percentile(de, 97) - np.median(np.abs(de))) if de.size > 4 else 0.0
    mag = np.sqrt(P[:, :kb])
    fl = np.maximum(0.0, mag[1:] - mag[:-1]).sum(axis=1) / (mag[1:].sum(axis=1) + 1e-12)
    flux = float(np.median(fl)) if fl.size else 0.0
    crest = float(20 * np.log10(1.0 / (float(np.sqrt(np.mean(x**2))) + 1e-12)))
    x2 = x.astype(np.float64)
    x2 *= x2  # the fourth power as a square of squares: ``xs**4`` calls pow() per sample
    kurt = float(np.clip(np.mean(x2 * x2) / (np.mean(x2) ** 2 + 1e-24) - 3.0, -3, 50))
    if fl.size > 8:
        med = float(np.median(fl))
        mad = float(np.median(np.abs(fl - med))) * 1.4826 + 1e-9
        z = (fl - med) / mad
        n_ph = min(TILE_FRAMES, z.size)
        rows = -(-z.size // n_ph)
        zz = np.full(rows * n_ph, np.nan)
        zz[: z.size] = z
        tile = float(np.nanmax(np.nanmean(zz.reshape(rows, n_ph), axis=0)))
    else:
        tile = 0.0
    out = np.array(
        [
            edge_khz, edge_drop_db, edge_drop_khz, drop_10k, stopband, max(hf, -120.0), nyq,
            edge_below, mirror, shift, cep_peak, line, *spreads, if_jitter, flutter, *flat,
            rough_low, rough_high, cent, roll, onset, flux, crest, kurt, min(tile, 50.0),
            *mel_span_residuals(x),
        ],
        dtype=np.float64,
    )  # fmt: skip
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def plan_windows(
    duration_s: float, *, window_s: float = 10.0, max_windows: int = 6
) -> list[tuple[float, float]]:
    """Where to analyse a file: up to ``max_windows`` windows spread over it.

    Parameters
    ----------
    duration_s : float
        Length of the file, seconds.
    window_s : float
        Window length, seconds. A file shorter than 1.25 windows is one window.
    max_windows : int
        Most windows analysed, whatever the length (bounds the cost).

    Returns
    -------
    list of (start_s, length_s)
        Evenly spaced, non-overlapping when the file is long enough.
    """
    if duration_s <= 0:
        return []
    if duration_s < 1.25 * window_s:
        return [(0.0, float(duration_s))]
    n = int(min(max_windows, duration_s // window_s))
    span = duration_s - window_s
    starts = [span * (i + 0.5) / n for i in range(n)] if n > 1 else [span / 2]
    return [(round(float(s), 3), float(window_s)) for s in starts]
