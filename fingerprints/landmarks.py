"""Spectral-peak pair (landmark) fingerprints, robust to speed, pitch and tempo changes.

The scheme follows Wang (2003) and dpwe's audfprint: local maxima of the log-magnitude
STFT are paired with a few later peaks and each pair is hashed. Two choices make it
survive the transformations distributors see:

* Peak frequencies are kept as continuous *log-frequency* values (semitones above
  :data:`F_REF_HZ`, sub-bin accurate by parabolic interpolation). A pitch shift or a
  resampling speed change moves every peak by the same number of semitones, so the
  frequency *difference* in a pair is invariant and only the anchor's frequency moves.
* The query side is hashed under a grid of hypotheses ``(s, b)``: shift all peaks by
  ``-s`` semitones and scale all times by ``b`` before quantising. The catalogue is
  hashed once, untransformed. Only one hypothesis lines up for a transformed copy; the
  others add chance hits that the offset vote rejects. See :func:`query_hypotheses`.

Hash layout (20 bits, little end first): ``dt`` (6 bits, frames), ``dp`` (7 bits,
quantised log-frequency difference), ``p1`` (7 bits, quantised anchor log-frequency).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft as sp_fft
from scipy.ndimage import maximum_filter, uniform_filter1d

SIGNAL_NAME = "landmarks"
SIGNAL_VERSION = "1"

SAMPLE_RATE = 11025
"""Analysis sample rate, Hz."""
N_FFT = 1024
HOP = 256
FRAME_S = HOP / SAMPLE_RATE
"""Seconds per STFT frame (about 23.2 ms)."""

F_REF_HZ = 150.0
F_MAX_HZ = 5000.0
P_MAX = 12.0 * np.log2(F_MAX_HZ / F_REF_HZ)
"""Highest peak position, semitones above :data:`F_REF_HZ`."""

P1_STEP = 0.5
"""Quantisation step of the anchor's log-frequency, semitones."""
DP_STEP = 1.0 / 6.0
"""Quantisation step of the pair's log-frequency difference, semitones."""
DP_MAX = 12.0
"""Largest |log-frequency difference| in a pair, semitones."""
DT_MAX = 63
"""Largest time difference in a pair, frames (6 bits)."""

_DT_BITS = 6
_DP_BITS = 8
_P1_BITS = 7
HASH_BITS = _DT_BITS + _DP_BITS + _P1_BITS


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
    """

    t: np.ndarray
    p: np.ndarray
    n_frames: int

    def __len__(self) -> int:
        return int(self.t.shape[0])


@dataclass(frozen=True, slots=True)
class Pairs:
    """Anchor/target peak pairs in the clip's own coordinates.

    All arrays have shape (m,): anchor frame ``t1`` (int32), anchor log-frequency ``p1``
    (semitones), log-frequency difference ``dp`` (semitones), time difference ``dt``
    (frames, >= 1).
    """

    t1: np.ndarray
    p1: np.ndarray
    dp: np.ndarray
    dt: np.ndarray

    def __len__(self) -> int:
        return int(self.t1.shape[0])


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
    x = np.asarray(samples, dtype=np.float32)
    if x.shape[0] < N_FFT:
        x = np.pad(x, (0, N_FFT - x.shape[0]))
    n_frames = 1 + (x.shape[0] - N_FFT) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP][:n_frames]
    window = np.hanning(N_FFT).astype(np.float32)
    spec = np.abs(sp_fft.rfft(frames * window, axis=1))
    spec *= 2.0 / window.sum()
    return (20.0 * np.log10(spec + 1e-9)).astype(np.float32)


def extract_peaks(
    samples: np.ndarray,
    *,
    peaks_per_second: float = 24.0,
    floor_db: float = -72.0,
    time_radius: int = 5,
    freq_radius: int = 9,
    prominence_db: float = 6.0,
    whiten_frames: int = 0,
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
    whiten_frames : int
        If > 0, peaks are picked and ranked on the spectrum minus its running mean per
        frequency over this many frames, so quiet bands (a sample under a louder bed)
        contribute peaks too.

    Returns
    -------
    Peaks
    """
    spec = log_spectrogram(samples)
    n_frames = spec.shape[0]
    hz_per_bin = SAMPLE_RATE / N_FFT
    lo_bin = max(1, int(np.ceil(F_REF_HZ / hz_per_bin)))
    hi_bin = min(spec.shape[1] - 2, int(F_MAX_HZ / hz_per_bin))
    raw = spec[:, lo_bin - 1 : hi_bin + 2]
    band = raw
    if whiten_frames > 0:
        band = raw - uniform_filter1d(raw, size=whiten_frames, axis=0, mode="nearest")
    local_max = maximum_filter(
        band, size=(2 * time_radius + 1, 2 * freq_radius + 1), mode="nearest"
    )
    median = np.median(band, axis=1, keepdims=True)
    core = band[:, 1:-1]
    is_peak = (
        (core == local_max[:, 1:-1])
        & (raw[:, 1:-1] > floor_db)
        & (core > median + prominence_db)
        & (core > band[:, :-2])
        & (core >= band[:, 2:])
    )
    t, k = np.nonzero(is_peak)
    if t.size == 0:
        return Peaks(np.empty(0, np.int32), np.empty(0, np.float32), n_frames)
    mag = core[t, k]
    # Density cap per one-second block: keep the strongest.
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
    freq = (lo_bin + k + np.clip(delta, -0.5, 0.5)) * hz_per_bin
    p = (12.0 * np.log2(freq / F_REF_HZ)).astype(np.float32)
    return Peaks(t.astype(np.int32), p, n_frames)


def make_pairs(
    peaks: Peaks, *, fan_out: int = 5, dt_max: int = DT_MAX, dp_max: float = DP_MAX
) -> Pairs:
    """Pair each peak with its ``fan_out`` nearest later peaks inside the target zone.

    The target zone is ``1 <= dt <= dt_max`` frames and ``|dp| <= dp_max`` semitones.
    """
    n = len(peaks)
    look = 4 * fan_out + 8
    if n < 2:
        empty_i = np.empty(0, np.int32)
        empty_f = np.empty(0, np.float32)
        return Pairs(empty_i, empty_f, empty_f, empty_i)
    i = np.arange(n)[:, None]
    j = i + np.arange(1, look + 1)[None, :]
    inside = j < n
    j = np.minimum(j, n - 1)
    dt = peaks.t[j] - peaks.t[i]
    dp = peaks.p[j] - peaks.p[i]
    ok = inside & (dt >= 1) & (dt <= dt_max) & (np.abs(dp) <= dp_max)
    ok &= np.cumsum(ok, axis=1) <= fan_out
    ii, jj = np.nonzero(ok)
    jj = j[ii, jj]
    return Pairs(
        t1=peaks.t[ii].astype(np.int32),
        p1=peaks.p[ii],
        dp=(peaks.p[jj] - peaks.p[ii]).astype(np.float32),
        dt=(peaks.t[jj] - peaks.t[ii]).astype(np.int32),
    )


def quantise(p1: np.ndarray, dp: np.ndarray, dt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hash pairs given in catalogue coordinates.

    Parameters
    ----------
    p1, dp : ndarray of float, shape (m,)
        Anchor log-frequency and pair difference, semitones.
    dt : ndarray of float, shape (m,)
        Time difference, frames (may be fractional after time scaling).

    Returns
    -------
    hashes : ndarray of uint32, shape (m,)
    valid : ndarray of bool, shape (m,)
        False where a value falls outside the hash ranges.
    """
    q1 = np.floor(p1 / P1_STEP)
    qd = np.floor((dp + DP_MAX) / DP_STEP)
    qt = np.rint(dt)
    valid = (
        (q1 >= 0)
        & (q1 < (1 << _P1_BITS))
        & (np.abs(dp) <= DP_MAX)
        & (qd < (1 << _DP_BITS))
        & (qt >= 1)
        & (qt <= DT_MAX)
    )
    q1 = np.where(valid, q1, 0).astype(np.uint32)
    qd = np.where(valid, qd, 0).astype(np.uint32)
    qt = np.where(valid, qt, 0).astype(np.uint32)
    hashes = (q1 << (_DP_BITS + _DT_BITS)) | (qd << _DT_BITS) | qt
    return hashes, valid


def anchor_position(hashes: np.ndarray) -> np.ndarray:
    """Centre of the anchor log-frequency bucket encoded in ``hashes``, semitones."""
    q1 = (np.asarray(hashes, dtype=np.uint32) >> (_DP_BITS + _DT_BITS)).astype(np.float32)
    return (q1 + 0.5) * P1_STEP


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """Landmark hashes of one catalogue track: parallel arrays of shape (m,).

    ``hashes`` (uint32), anchor frames ``times`` (uint32) and anchor log-frequencies
    ``pitches`` (uint16, in 1/:data:`PITCH_UNITS` semitone, for measuring pitch shifts);
    ``n_frames`` is the track length in frames.
    """

    hashes: np.ndarray
    times: np.ndarray
    n_frames: int
    pitches: np.ndarray | None = None

    @property
    def duration_s(self) -> float:
        return self.n_frames * FRAME_S


def fingerprint(samples: np.ndarray, *, fan_out: int = 5) -> Fingerprint:
    """Catalogue-side landmark hashes of a clip at :data:`SAMPLE_RATE` Hz."""
    peaks = extract_peaks(samples)
    pairs = make_pairs(peaks, fan_out=fan_out)
    hashes, valid = quantise(pairs.p1, pairs.dp, pairs.dt)
    return Fingerprint(
        hashes=hashes[valid],
        times=pairs.t1[valid].astype(np.uint32),
        n_frames=peaks.n_frames,
        pitches=encode_pitch(pairs.p1[valid]),
    )


PITCH_UNITS = 32
"""Stored anchor log-frequencies are in 1/32 semitone."""


def encode_pitch(p: np.ndarray) -> np.ndarray:
    """Log-frequency in semitones -> uint16 in 1/:data:`PITCH_UNITS` semitone."""
    return np.clip(np.rint(np.asarray(p) * PITCH_UNITS), 0, 65535).astype(np.uint16)


def decode_pitch(code: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode_pitch`, semitones."""
    return np.asarray(code, dtype=np.float32) / PITCH_UNITS


@dataclass(frozen=True, slots=True)
class Hypothesis:
    """One query-side transformation hypothesis.

    ``shift`` (semitones) is subtracted from query log-frequencies; query times are
    multiplied by ``scale``. A copy sped up by ratio r (pitch moving with it) lines up
    at ``shift = 12 log2 r, scale = r``; a pitch shift of s semitones at ``(s, 1)``; a
    tempo change by ratio k at ``(0, k)``.
    """

    shift: float
    scale: float


def query_hypotheses(
    *,
    speed_range: float = 0.06,
    speed_step: float = 0.02,
    pitch_range: float = 2.4,
    pitch_step: float = 1.0 / 3.0,
    tempo_range: float = 0.115,
    tempo_step: float = 0.025,
) -> tuple[Hypothesis, ...]:
    """The grid of hypotheses a query is hashed under, identity first.

    Three lines through the identity: resampling speed changes (pitch moving with
    speed), pitch shifts at constant tempo, and tempo changes at constant pitch. The
    steps are set so that the worst-case error of the nearest hypothesis keeps about
    half of the hashes in the right quantisation bucket (see the module docstring).
    """
    out: list[Hypothesis] = [Hypothesis(0.0, 1.0)]
    seen = {(0.0, 1.0)}

    def add(shift: float, scale: float) -> None:
        key = (round(shift, 4), round(scale, 4))
        if key not in seen:
            seen.add(key)
            out.append(Hypothesis(*key))

    n = round(speed_range / speed_step)
    for i in range(-n, n + 1):
        r = 1.0 + i * speed_step
        add(12.0 * np.log2(r), r)
    n = round(pitch_range / pitch_step)
    for i in range(-n, n + 1):
        add(i * pitch_step, 1.0)
    n = round(tempo_range / tempo_step)
    for i in range(-n, n + 1):
        add(0.0, 1.0 + i * tempo_step)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class QueryHashes:
    """Query hashes under every hypothesis, flattened; arrays of shape (m,).

    ``hypothesis`` indexes the hypothesis tuple; ``t_query`` is the anchor frame in the
    query's own time; ``t_scaled`` the same multiplied by the hypothesis' scale;
    ``p_shifted`` the anchor log-frequency after the hypothesis' shift.
    """

    hashes: np.ndarray
    hypothesis: np.ndarray
    t_query: np.ndarray
    t_scaled: np.ndarray
    p_shifted: np.ndarray
    hypotheses: tuple[Hypothesis, ...]
    n_frames: int


def query_hashes(
    samples: np.ndarray,
    *,
    hypotheses: tuple[Hypothesis, ...] | None = None,
    fan_out: int = 6,
) -> QueryHashes:
    """Hash a query clip at :data:`SAMPLE_RATE` Hz under every hypothesis.

    The query uses a larger fan-out than the catalogue so that a pair the catalogue kept
    survives an extra or missing peak in between.
    """
    hyps = hypotheses if hypotheses is not None else query_hypotheses()
    peaks = extract_peaks(samples)
    min_scale = min(h.scale for h in hyps)
    pairs = make_pairs(peaks, fan_out=fan_out, dt_max=int(np.ceil(DT_MAX / min_scale)))
    parts_h, parts_v, parts_t, parts_ts, parts_p = [], [], [], [], []
    for v, hyp in enumerate(hyps):
        p1 = pairs.p1 - hyp.shift
        hashes, valid = quantise(p1, pairs.dp, pairs.dt * hyp.scale)
        parts_h.append(hashes[valid])
        parts_v.append(np.full(int(valid.sum()), v, np.int16))
        parts_t.append(pairs.t1[valid])
        parts_ts.append(pairs.t1[valid] * np.float32(hyp.scale))
        parts_p.append(p1[valid])
    return QueryHashes(
        hashes=np.concatenate(parts_h) if parts_h else np.empty(0, np.uint32),
        hypothesis=np.concatenate(parts_v) if parts_v else np.empty(0, np.int16),
        t_query=np.concatenate(parts_t) if parts_t else np.empty(0, np.int32),
        t_scaled=np.concatenate(parts_ts).astype(np.float32) if parts_ts else np.empty(0),
        p_shifted=np.concatenate(parts_p).astype(np.float32) if parts_p else np.empty(0),
        hypotheses=hyps,
        n_frames=peaks.n_frames,
    )
