"""The optimised peak picking gives exactly the peaks and triplets of the straightforward
implementation it replaced (kept here as the oracle: full log spectrogram,
``scipy.ndimage.maximum_filter``, ``np.median`` per frame), and the alignment's Hough
line search exactly the line of the per-slope loop it replaced."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import fft as sp_fft
from scipy.ndimage import maximum_filter

from compliance.synth import synth_piece
from fingerprints import landmarks as L

SR = L.SAMPLE_RATE


def _ref_log_spectrogram(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float32)
    if x.shape[0] < L.N_FFT:
        x = np.pad(x, (0, L.N_FFT - x.shape[0]))
    n_frames = 1 + (x.shape[0] - L.N_FFT) // L.HOP
    frames = np.lib.stride_tricks.sliding_window_view(x, L.N_FFT)[:: L.HOP][:n_frames]
    window = np.hanning(L.N_FFT).astype(np.float32)
    spec = np.abs(sp_fft.rfft(frames * window, axis=1))
    spec *= 2.0 / window.sum()
    return (20.0 * np.log10(spec + 1e-9)).astype(np.float32)


def _ref_extract_peaks(
    samples, *, peaks_per_second=24.0, floor_db=-72.0, time_radius=5, freq_radius=9,
    prominence_db=6.0, spec=None,
) -> L.Peaks:  # fmt: skip
    spec = _ref_log_spectrogram(samples) if spec is None else spec
    n_frames = spec.shape[0]
    hz_per_bin = SR / L.N_FFT
    lo_bin = max(1, int(np.ceil(L.F_REF_HZ / hz_per_bin)))
    hi_bin = min(spec.shape[1] - 2, int(L.F_MAX_HZ / hz_per_bin))
    band = spec[:, lo_bin - 1 : hi_bin + 2]
    local_max = maximum_filter(
        band, size=(2 * time_radius + 1, 2 * freq_radius + 1), mode="nearest"
    )
    median = np.median(band, axis=1, keepdims=True)
    core = band[:, 1:-1]
    is_peak = (
        (core == local_max[:, 1:-1])
        & (core > floor_db)
        & (core > median + prominence_db)
        & (core > band[:, :-2])
        & (core >= band[:, 2:])
    )
    t, k = np.nonzero(is_peak)
    if t.size == 0:
        return L.Peaks(np.empty(0, np.int32), np.empty(0, np.float32), n_frames)
    mag = core[t, k]
    block = (t * L.FRAME_S).astype(np.int64)
    order = np.lexsort((-mag, block))
    block_sorted = block[order]
    first = np.searchsorted(block_sorted, block_sorted, side="left")
    rank = np.arange(order.size) - first
    keep = np.sort(order[rank < max(1, round(peaks_per_second))])
    t, k = t[keep], k[keep]
    a, b, c = band[t, k], band[t, k + 1], band[t, k + 2]
    denom = a - 2.0 * b + c
    delta = np.where(np.abs(denom) > 1e-6, 0.5 * (a - c) / np.where(denom == 0, 1, denom), 0.0)
    freq = (lo_bin + k + np.clip(delta, -0.5, 0.5)) * hz_per_bin
    p = (12.0 * np.log2(freq / L.F_REF_HZ)).astype(np.float32)
    return L.Peaks(t.astype(np.int32), p, n_frames)


def _signals():
    rng = np.random.default_rng(1234)
    music = synth_piece(5, 25.0, sample_rate=SR).astype(np.float32)
    t = np.arange(8 * SR) / SR
    chirp = (0.3 * np.sin(2 * np.pi * (200 * t + 150 * t**2))).astype(np.float32)
    noise = (0.05 * rng.standard_normal(6 * SR)).astype(np.float32)
    quiet = (1e-3 * music[: 10 * SR]).astype(np.float32)
    return {
        "music": music,
        "music_f64_offset": np.concatenate([np.zeros(333), music[: 12 * SR]]).astype(np.float64),
        "chirp": chirp,
        "noise": noise,
        "quiet": quiet,
        "short": music[: SR // 3],
        "tiny": music[:500],
        "silence": np.zeros(3 * SR, np.float32),
    }


SIGNALS = _signals()


@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_log_spectrogram_identical(name):
    x = SIGNALS[name]
    assert np.array_equal(L.log_spectrogram(x), _ref_log_spectrogram(x))


@pytest.mark.parametrize("name", sorted(SIGNALS))
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"peaks_per_second": 36.0},
        {"time_radius": 3, "freq_radius": 4},
        {"freq_radius": 1},
        {"time_radius": 300, "freq_radius": 2},
    ],
)
def test_peaks_identical(name, kw):
    x = SIGNALS[name]
    got, ref = L.extract_peaks(x, **kw), _ref_extract_peaks(x, **kw)
    assert got.n_frames == ref.n_frames
    assert np.array_equal(got.t, ref.t)
    assert got.p.dtype == ref.p.dtype and np.array_equal(got.p, ref.p)


def test_peaks_identical_when_ties_outnumber_the_first_room():
    """A loud comb with exact ties: every third bin of every frame is a local maximum,
    more candidates than the room made first, so the search runs a second time."""
    n_frames, n_bins = 40, L.N_FFT // 2 + 1
    spec = np.full((n_frames, n_bins), -40.0, np.float32)
    spec[:, ::3] = 0.0
    spec[::7, 1::5] = -3.5  # other values, so that not every tie is a candidate
    threshold = np.ascontiguousarray(np.median(spec, axis=1) + 6.0, dtype=np.float32)
    room = np.empty(1, np.intp)
    n = L._peak_candidates(spec, threshold, np.float32(-72.0), 5, 9, room, room.copy())
    assert n > L._CANDIDATES_PER_FRAME * n_frames
    x = np.zeros(n_frames * L.HOP + L.N_FFT - L.HOP, np.float32)
    got = L.extract_peaks(x, spec=spec, peaks_per_second=1e5)
    ref = _ref_extract_peaks(x, spec=spec, peaks_per_second=1e5)
    assert got.t.size > L._CANDIDATES_PER_FRAME * n_frames
    assert np.array_equal(got.t, ref.t) and np.array_equal(got.p, ref.p)


@pytest.mark.parametrize("name", ["music", "chirp", "noise"])
def test_triplets_identical(name):
    x = SIGNALS[name]
    got = L.fingerprint(x)
    ref = L.hash_triplets(_ref_extract_peaks(x))
    assert len(got) > 0 or name == "noise"
    for f in ("hashes", "times", "pitches", "spans"):
        assert np.array_equal(getattr(got, f), getattr(ref, f)), f
    q = L.query_triplets(x)
    qref = L.hash_triplets(_ref_extract_peaks(x, peaks_per_second=36.0), fan_out=10, dt_max=92)
    assert np.array_equal(q.hashes, qref.hashes) and np.array_equal(q.times, qref.times)


def _ref_hough_line(x, tc, slopes, tolerance):
    """The per-slope loop the histogram version replaced."""
    best = (-1, float(slopes[0]), 0.0)
    for s in slopes:
        r = np.floor((tc - s * x) / tolerance).astype(np.int64)
        u, c = np.unique(r, return_counts=True)
        c2 = c.copy()
        adj = np.flatnonzero(u[1:] == u[:-1] + 1)
        c2[adj] += c[adj + 1]
        j = int(np.argmax(c2))
        if c2[j] > best[0]:
            best = (int(c2[j]), float(s), float((u[j] + 1) * tolerance))
    return best[1], best[2]


@pytest.mark.parametrize("cells", [1 << 22, 50])  # one block, and many small blocks
def test_hough_line_identical(monkeypatch, cells):
    from fingerprints import align

    monkeypatch.setattr(align, "_HOUGH_CELLS", cells)
    rng = np.random.default_rng(11)
    for k in range(60):  # few hits (sorted) and many (histogram) for the range
        n = int(rng.integers(1, 400)) if k % 2 else int(rng.integers(1500, 4000))
        tq = np.sort(rng.integers(0, 3000, n)).astype(np.float64)
        x = tq - np.median(tq)
        true = rng.uniform(0.95, 1.05)
        tc = np.where(
            rng.random(n) < 0.5,
            true * x + rng.uniform(0, 5000) + rng.normal(0, 1, n),
            rng.uniform(0, 8000, n),  # chance hits
        ).round()  # integer frames: ties between bins and slopes happen
        s0 = float(rng.choice([0.9, 1.0, 1.1]))
        slopes = s0 * (1.0 + np.arange(-0.03, 0.03 + 0.0005, 0.001))
        assert align._hough_line(x, tc, slopes, 2.0) == _ref_hough_line(x, tc, slopes, 2.0)


def test_search_shares_one_vote_with_the_defaults_of_align_and_vote_cells():
    import inspect

    from fingerprints import align

    for f in (align.align, align.vote_cells):
        params = inspect.signature(f).parameters
        assert {k: params[k].default for k in align._VOTE_DEFAULTS} == align._VOTE_DEFAULTS
