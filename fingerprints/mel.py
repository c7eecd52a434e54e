"""HTK mel filters (numpy only): shared by the generator renderers and the AI trace
features, which should not pay for importing the renderers' signal-processing stack."""

from __future__ import annotations

import numpy as np


def hz_to_mel_htk(f: np.ndarray | float) -> np.ndarray:
    """Hz to HTK mels (``2595 log10(1 + f / 700)``)."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz_htk(m: np.ndarray) -> np.ndarray:
    """HTK mels to Hz (the inverse of :func:`hz_to_mel_htk`)."""
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def htk_mel_filterbank(
    *, sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0, f_max: float
) -> np.ndarray:
    """Triangular HTK mel filters without normalisation.

    Parameters
    ----------
    sample_rate : int
        Hz.
    n_fft : int
        FFT length; the filters act on its ``n_fft // 2 + 1`` bins.
    n_mels : int
        Number of filters.
    f_min, f_max : float
        Band of the filters, Hz.

    Returns
    -------
    ndarray of float32, shape (n_fft // 2 + 1, n_mels)
        Weight of each FFT bin in each filter (peak 1).
    """
    n_freqs = n_fft // 2 + 1
    freqs = np.linspace(0.0, sample_rate // 2, n_freqs)
    m_pts = np.linspace(hz_to_mel_htk(f_min), hz_to_mel_htk(f_max), n_mels + 2)
    f_pts = mel_to_hz_htk(m_pts)
    f_diff = np.diff(f_pts)
    slopes = f_pts[None, :] - freqs[:, None]
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return np.maximum(0.0, np.minimum(down, up)).astype(np.float32)
