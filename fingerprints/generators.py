"""Renderers that imitate the decoders of audio generators, for training and tests.

These make *generator-style* audio out of real audio: the spectrogram-to-audio stage of
a generator applied to a real recording. They are what the AI-trace classifier
(:mod:`fingerprints.ai_traces`) learns to tell from real audio; they are not generative
models.

* :func:`riffusion_roundtrip`: Riffusion's image-to-audio stage with its published
  parameters (44.1 kHz; 10 ms hop, 100 ms Hann window, 400 ms padded FFT; 512 HTK mel
  bins over 0-10 kHz without normalisation; the image is the mel magnitude over its
  maximum, to the power 0.25, times 255, as 8-bit integers, per 512-frame (5.12 s)
  tile; back: power 4 times a fixed maximum, inverse mel by least squares and ReLU,
  Griffin-Lim with 32 iterations and momentum 0.99 from random phases; each tile
  peak-normalised).
* :func:`mel_vocoder_roundtrip`: a TTS/vocoder-style decoder: log-mel spectrogram at a
  lower rate (22.05 or 16 kHz, 80-128 bins), inverted by Griffin-Lim, resampled to the
  output rate.
* :func:`upsampling_decoder`: a decoder that reaches its output rate by transposed
  convolutions (zero insertion followed by a short kernel): the spectral images of the
  low-rate signal survive as periodic peaks and mirrored copies above its Nyquist.

All functions take and return mono float32 samples and a ``numpy.random.Generator``
for every random choice (seeded by the caller).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft as sfft
import scipy.signal as ss
import soxr
from numpy.lib.stride_tricks import sliding_window_view

from fingerprints.mel import htk_mel_filterbank

RIFFUSION_RATE = 44100
"""Riffusion's output rate, Hz."""
RIFFUSION = {
    "hop": 441,  # 10 ms
    "win": 4410,  # 100 ms
    "n_fft": 17640,  # 400 ms
    "n_mels": 512,
    "f_max": 10000.0,
    "power": 0.25,
    "max_value": 30e6,
    "tile_frames": 512,
    "gl_iters": 32,
}
"""Parameters of Riffusion's spectrogram-to-audio converter (its ``SpectrogramParams``
defaults)."""


@lru_cache(maxsize=2)
def _riffusion_banks() -> tuple[np.ndarray, np.ndarray]:
    p = RIFFUSION
    fb = htk_mel_filterbank(
        sample_rate=RIFFUSION_RATE, n_fft=p["n_fft"], n_mels=p["n_mels"], f_max=p["f_max"]
    )
    used = int(np.nonzero(fb.max(axis=1) > 0)[0][-1]) + 1  # bins above 10 kHz stay zero
    pinv = np.linalg.pinv(fb[:used].T.astype(np.float64)).astype(np.float32)  # (used, n_mels)
    return fb[:used], pinv


def _stft(
    y: np.ndarray, *, n_fft: int, hop: int, window: np.ndarray, n_frames: int, n_bins: int
) -> np.ndarray:
    """Centred STFT, frames x the first ``n_bins`` bins (window zero-padded to n_fft).

    Frames are not rotated to the centre of the FFT buffer: every bin's phase changes by
    a fixed ramp only, which :func:`_istft` undoes by the same convention."""
    win = window.size
    yp = np.pad(y, (win // 2, win // 2 + hop * n_frames))
    frames = sliding_window_view(yp, win)[::hop][:n_frames] * window[None, :]
    return sfft.rfft(frames, n=n_fft, axis=1)[:, :n_bins]


def _istft(X: np.ndarray, *, n_fft: int, hop: int, window: np.ndarray, length: int) -> np.ndarray:
    """Weighted overlap-add inverse of :func:`_stft` (``X``: frames x first bins)."""
    win = window.size
    full = np.zeros((X.shape[0], n_fft // 2 + 1), dtype=X.dtype)
    full[:, : X.shape[1]] = X
    frames = sfft.irfft(full, n=n_fft, axis=1)[:, :win] * window[None, :]
    n = frames.shape[0]
    w2 = (window * window).astype(np.float32)
    if win % hop == 0:  # overlap-add as win / hop shifted block sums
        r = win // hop
        blocks = np.zeros((n + r - 1, hop), np.float32)
        env = np.zeros((n + r - 1, hop), np.float32)
        fr = frames.reshape(n, r, hop)
        w2r = w2.reshape(r, hop)
        for j in range(r):
            blocks[j : j + n] += fr[:, j, :]
            env[j : j + n] += w2r[j]
        y, env = blocks.reshape(-1), env.reshape(-1)
    else:
        total = win + hop * (n - 1)
        y = np.zeros(total, np.float32)
        env = np.zeros(total, np.float32)
        for i in range(n):
            y[i * hop : i * hop + win] += frames[i]
            env[i * hop : i * hop + win] += w2
    y = y / np.maximum(env, 1e-3 * float(w2.max()))
    y = y[win // 2 :]
    return np.pad(y, (0, max(0, length - y.size)))[:length]


def griffin_lim(
    magnitude: np.ndarray,
    *,
    n_fft: int,
    hop: int,
    win: int,
    length: int,
    rng: np.random.Generator,
    n_iter: int = 32,
    momentum: float = 0.99,
) -> np.ndarray:
    """Fast Griffin-Lim (Perraudin et al.) from random phases.

    Parameters
    ----------
    magnitude : ndarray, shape (n_bins, n_frames)
        Target STFT magnitude of the first ``n_bins`` bins (higher bins are zero).
    n_fft, hop, win : int
        STFT geometry, samples (Hann window of ``win`` samples zero-padded to ``n_fft``).
    length : int
        Output length, samples.
    rng : numpy.random.Generator
        For the initial phases.
    n_iter : int
        Iterations.
    momentum : float
        Fast Griffin-Lim momentum (0: the original algorithm).

    Returns
    -------
    ndarray of float32, shape (length,)
    """
    window = ss.get_window("hann", win, fftbins=True).astype(np.float32)
    S = np.ascontiguousarray(magnitude.T.astype(np.float32))
    nf, nb = S.shape
    angles = np.exp(2j * np.pi * rng.random(S.shape)).astype(np.complex64)
    rebuilt = np.zeros_like(angles)
    c = np.complex64(momentum / (1.0 + momentum))
    for _ in range(n_iter):
        inv = _istft(S * angles, n_fft=n_fft, hop=hop, window=window, length=length)
        new = _stft(inv, n_fft=n_fft, hop=hop, window=window, n_frames=nf, n_bins=nb)
        angles = new - c * rebuilt
        angles /= np.abs(angles) + np.float32(1e-16)
        rebuilt = new
    y = _istft(S * angles, n_fft=n_fft, hop=hop, window=window, length=length)
    return y.astype(np.float32)


def riffusion_image(tile: np.ndarray) -> np.ndarray:
    """Riffusion's 8-bit mel image of one tile of audio at 44.1 kHz.

    Parameters
    ----------
    tile : ndarray of float32, shape (n,)
        At most 5.12 s (512 frames) at :data:`RIFFUSION_RATE`.

    Returns
    -------
    ndarray of uint8, shape (512, n_frames)
        ``255 - floor(255 * (mel / max(mel)) ** 0.25)`` (bright = loud inverted, as
        Riffusion stores it); frequency rows from 0 Hz up.
    """
    p = RIFFUSION
    fb, _ = _riffusion_banks()
    window = ss.get_window("hann", p["win"], fftbins=True).astype(np.float32)
    n_frames = min(p["tile_frames"], tile.size // p["hop"] + 1)
    X = _stft(
        tile.astype(np.float32), n_fft=p["n_fft"], hop=p["hop"], window=window,
        n_frames=n_frames, n_bins=fb.shape[0],
    )  # fmt: skip
    mel = fb.T @ np.abs(X).T  # (n_mels, frames)
    mx = float(mel.max()) or 1.0
    return (255 - (np.power(mel / mx, p["power"]) * 255).astype(np.uint8)).astype(np.uint8)


def riffusion_roundtrip(samples: np.ndarray, *, rng: np.random.Generator) -> np.ndarray:
    """Audio -> Riffusion mel image (per 5.12 s tile) -> Griffin-Lim -> audio.

    Parameters
    ----------
    samples : ndarray of float32, shape (n,)
        Mono audio at :data:`RIFFUSION_RATE` (44.1 kHz).
    rng : numpy.random.Generator
        Griffin-Lim's initial phases.

    Returns
    -------
    ndarray of float32, shape (m,)
        44.1 kHz; each tile peak-normalised to 0.9; ``m`` is ``n`` less a trailing
        piece shorter than 8 hops.
    """
    p = RIFFUSION
    _, pinv = _riffusion_banks()
    tile_n = p["tile_frames"] * p["hop"]
    out = []
    x = np.asarray(samples, dtype=np.float32)
    for s0 in range(0, x.size, tile_n):
        seg = x[s0 : s0 + tile_n]
        if seg.size < 8 * p["hop"]:
            break
        img = riffusion_image(seg)
        mel = np.power((255 - img.astype(np.float32)) / 255.0, 1.0 / p["power"]) * p["max_value"]
        S = np.maximum(0.0, pinv @ mel)  # inverse mel: least squares + ReLU
        y = griffin_lim(
            S, n_fft=p["n_fft"], hop=p["hop"], win=p["win"], length=seg.size, rng=rng,
            n_iter=p["gl_iters"],
        )  # fmt: skip
        out.append((0.9 * y / (np.max(np.abs(y)) + 1e-9)).astype(np.float32))
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def mel_vocoder_roundtrip(
    samples: np.ndarray,
    *,
    sample_rate: int,
    rng: np.random.Generator,
    vocoder_rate: int | None = None,
    n_mels: int | None = None,
    n_iter: int = 32,
) -> np.ndarray:
    """A vocoder-style decoder: log-mel at a lower rate, Griffin-Lim, resampled back.

    Parameters
    ----------
    samples : ndarray of float32, shape (n,)
        Mono audio at ``sample_rate``.
    sample_rate : int
        Hz of the input and of the output.
    rng : numpy.random.Generator
        Picks the unset parameters and Griffin-Lim's phases.
    vocoder_rate : int, optional
        The decoder's rate (default: 22050 or 16000 at random).
    n_mels : int, optional
        Mel bins up to the decoder's Nyquist (default: 80, 100 or 128 at random).
    n_iter : int
        Griffin-Lim iterations.

    Returns
    -------
    ndarray of float32, shape (n,)
        Peak-normalised to 0.9.
    """
    vr = int(vocoder_rate or rng.choice([22050, 16000]))
    nm = int(n_mels or rng.choice([80, 100, 128]))
    n_fft, hop = (1024, 256) if vr >= 22050 else (1024, 200)
    x = soxr.resample(np.asarray(samples, np.float32), sample_rate, vr).astype(np.float32)
    fmax = vr / 2.0
    fb = htk_mel_filterbank(sample_rate=vr, n_fft=n_fft, n_mels=nm, f_max=fmax)
    window = ss.get_window("hann", n_fft, fftbins=True).astype(np.float32)
    n_frames = x.size // hop + 1
    X = _stft(x, n_fft=n_fft, hop=hop, window=window, n_frames=n_frames, n_bins=fb.shape[0])
    mel = fb.T @ np.abs(X).T
    # log compression and 16-bit-like clipping of the dynamic range, as vocoders are fed
    logmel = np.log(np.maximum(mel, 1e-5 * float(mel.max() or 1.0)))
    mel = np.exp(logmel)
    S = np.maximum(0.0, np.linalg.pinv(fb.T.astype(np.float64)).astype(np.float32) @ mel)
    y = griffin_lim(
        S, n_fft=n_fft, hop=hop, win=n_fft, length=x.size, rng=rng, n_iter=n_iter, momentum=0.99
    )
    y = soxr.resample(y, vr, sample_rate).astype(np.float32)[: len(samples)]
    y = np.pad(y, (0, max(0, len(samples) - y.size)))
    return (0.9 * y / (np.max(np.abs(y)) + 1e-9)).astype(np.float32)


def upsampling_decoder(
    samples: np.ndarray,
    *,
    sample_rate: int,
    rng: np.random.Generator,
    factor: int | None = None,
    kernel_taps: int | None = None,
) -> np.ndarray:
    """A decoder that upsamples by transposed convolution (zero insertion + short kernel).

    The input is brought to ``sample_rate / factor`` (the decoder's internal rate), then
    each sample is followed by ``factor - 1`` zeros and the result is convolved with a
    short smoothing kernel (``kernel_taps`` taps, a random perturbation of a triangle):
    the images of the low-rate spectrum at multiples of ``sample_rate / factor`` are
    only partly suppressed, as with a learned upsampling layer.

    Parameters
    ----------
    samples : ndarray of float32, shape (n,)
    sample_rate : int
        Hz of the input and of the output.
    rng : numpy.random.Generator
    factor : int, optional
        Upsampling factor (default 2 or 4 at random).
    kernel_taps : int, optional
        Kernel length (default ``2 * factor`` or ``4 * factor``).

    Returns
    -------
    ndarray of float32, shape (n,)
        Peak-normalised to 0.9.
    """
    k = int(factor or rng.choice([2, 4]))
    taps = int(kernel_taps or k * int(rng.choice([2, 4])))
    x = np.asarray(samples, np.float32)
    low = soxr.resample(x, sample_rate, sample_rate // k).astype(np.float32)
    up = np.zeros(low.size * k, np.float32)
    up[::k] = low * k
    tri = 1.0 - np.abs(np.linspace(-1.0, 1.0, taps + 2)[1:-1])
    kern = tri * (1.0 + 0.25 * rng.standard_normal(taps))
    kern /= kern.sum()
    y = np.convolve(up, kern.astype(np.float32), mode="same")[: x.size]
    y = np.pad(y, (0, max(0, x.size - y.size)))
    return (0.9 * y / (np.max(np.abs(y)) + 1e-9)).astype(np.float32)
