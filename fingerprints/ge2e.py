"""GE2E speaker encoder (Resemblyzer's pretrained weights) in numpy.

The network of Wan et al., "Generalized End-to-End Loss for Speaker Verification"
(ICASSP 2018), as trained and published by Resemblyzer 0.1.4 (Apache-2.0): 40 mel bands
of 25 ms power spectra every 10 ms at 16 kHz, a 3-layer LSTM of 256 units, a linear
projection to 256 values, ReLU and L2 normalisation. An utterance is cut into partial
utterances of 160 frames (1.6 s); each partial gives one unit vector and the utterance
embedding is their normalised mean. Cosine similarity between embeddings measures how
alike two voices are; it is not a probability (see :mod:`fingerprints.voice` for the
calibration).

The weights come from ``scripts/convert_ge2e.py``, which ``make install`` runs
(``models/ge2e_v1.npz``, float16, computed in float32, not committed;
``models/ge2e_v1.card.json`` names the source and its hash). No PyTorch, no download at
run time. The frontend matches Resemblyzer's
``wav_to_mel_spectrogram`` (librosa's Slaney mel filters, power spectrogram, no log) and
the outputs agree with Resemblyzer's own to about 1e-3 (tests/test_ge2e.py holds
reference embeddings computed with it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
"""Input rate of the encoder, Hz."""
N_FFT = 400
"""25 ms window at 16 kHz."""
HOP = 160
"""10 ms hop at 16 kHz."""
N_MELS = 40
PARTIAL_FRAMES = 160
"""Frames per partial utterance (1.6 s)."""
EMBEDDING_SIZE = 256
MODEL_VERSION = "ge2e-v1"
MODEL_FILE = Path(__file__).resolve().parent / "models" / "ge2e_v1.npz"


@lru_cache(maxsize=1)
def _mel_basis() -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS).astype(np.float32)


def mel_frames(samples: np.ndarray) -> np.ndarray:
    """Encoder input frames of 16 kHz audio.

    Parameters
    ----------
    samples : ndarray of float32, shape (n,)
        Mono audio at :data:`SAMPLE_RATE`, full scale about [-1, 1].

    Returns
    -------
    ndarray of float32, shape (1 + n // HOP, N_MELS)
        Mel-band power (not log) of 25 ms Hann windows every 10 ms, centred.
    """
    import librosa

    x = np.asarray(samples, dtype=np.float32)
    spec = np.abs(librosa.stft(x, n_fft=N_FFT, hop_length=HOP, center=True)) ** 2
    return (_mel_basis() @ spec).T.astype(np.float32)


@dataclass(frozen=True)
class SpeakerEncoder:
    """The GE2E network; build with :func:`default_encoder`.

    Attributes
    ----------
    layers : tuple of (W_ih, W_hh, b)
        Per LSTM layer: input weights (4H, in), recurrent weights (4H, H) and the summed
        biases (4H,), gate order i, f, g, o (PyTorch's).
    proj_w, proj_b : ndarray
        Linear projection, shapes (256, 256) and (256,).
    sha256 : str
        Hash of the weights file.
    """

    layers: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]
    proj_w: np.ndarray
    proj_b: np.ndarray
    sha256: str
    version: str = MODEL_VERSION

    @classmethod
    def load(cls, path: str | Path = MODEL_FILE) -> SpeakerEncoder:
        """Read a weights file written by ``scripts/convert_ge2e.py``."""
        p = Path(path)
        if not p.exists():
            from fingerprints.errors import FingerprintError

            raise FingerprintError(
                f"speaker-encoder weights {p} are missing: run `make install` (or "
                "`python scripts/convert_ge2e.py`)",
                code="model_missing",
            )
        blob = p.read_bytes()
        with np.load(p) as z:
            arr = {k: z[k].astype(np.float32) for k in z.files}
        layers = []
        for i in range(3):
            w_ih = arr[f"lstm__weight_ih_l{i}"]
            w_hh = arr[f"lstm__weight_hh_l{i}"]
            b = arr[f"lstm__bias_ih_l{i}"] + arr[f"lstm__bias_hh_l{i}"]
            layers.append((np.ascontiguousarray(w_ih.T), np.ascontiguousarray(w_hh.T), b))
        return cls(
            layers=tuple(layers),
            proj_w=np.ascontiguousarray(arr["linear__weight"].T),
            proj_b=arr["linear__bias"],
            sha256=hashlib.sha256(blob).hexdigest(),
        )

    def embed_partials(self, mels: np.ndarray) -> np.ndarray:
        """Unit embeddings of a batch of partial utterances.

        Parameters
        ----------
        mels : ndarray of float32, shape (batch, frames, N_MELS)
            Frames of :func:`mel_frames`, usually ``PARTIAL_FRAMES`` per partial.

        Returns
        -------
        ndarray of float32, shape (batch, EMBEDDING_SIZE)
            Non-negative, L2-normalised rows (a row of zeros stays zero).
        """
        x = np.asarray(mels, dtype=np.float32)
        if x.ndim != 3 or x.shape[2] != N_MELS:
            raise ValueError(f"expected (batch, frames, {N_MELS}) frames, got {x.shape}")
        batch, steps, _ = x.shape
        for w_ih, w_hh, b in self.layers:
            hidden = w_hh.shape[0]
            # Input contributions of every step in one product; only h @ W_hh is sequential.
            gates_in = (x.reshape(batch * steps, -1) @ w_ih + b).reshape(batch, steps, -1)
            h = np.zeros((batch, hidden), dtype=np.float32)
            c = np.zeros((batch, hidden), dtype=np.float32)
            out = np.empty((batch, steps, hidden), dtype=np.float32)
            for t in range(steps):
                g = gates_in[:, t] + h @ w_hh
                i_f = _sigmoid(g[:, : 2 * hidden])
                c = i_f[:, hidden:] * c + i_f[:, :hidden] * np.tanh(g[:, 2 * hidden : 3 * hidden])
                h = _sigmoid(g[:, 3 * hidden :]) * np.tanh(c)
                out[:, t] = h
            x = out
        e = np.maximum(h @ self.proj_w + self.proj_b, 0.0)
        n = np.linalg.norm(e, axis=1, keepdims=True)
        return (e / np.where(n > 0, n, 1.0)).astype(np.float32)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * z) + 1.0)


def partial_starts(n_frames: int, *, step_frames: int = PARTIAL_FRAMES // 2) -> np.ndarray:
    """First frame of each partial utterance over ``n_frames`` frames.

    Partials of :data:`PARTIAL_FRAMES` frames every ``step_frames``; the last one is
    kept when at least 3/4 of it lies inside (Resemblyzer's ``min_coverage``); a span
    shorter than one partial gives one partial at frame 0 (to be zero-padded).

    Returns
    -------
    ndarray of int64, shape (n_partials,)
    """
    if n_frames <= PARTIAL_FRAMES:
        return np.zeros(1, dtype=np.int64)
    starts = list(range(0, n_frames - PARTIAL_FRAMES + 1, step_frames))
    tail = starts[-1] + step_frames
    if tail < n_frames and (n_frames - tail) >= 0.75 * PARTIAL_FRAMES:
        starts.append(tail)
    return np.asarray(starts, dtype=np.int64)


def stack_partials(frames: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Cut ``frames`` (n, N_MELS) into partials at ``starts``, zero-padding the last.

    Returns
    -------
    ndarray of float32, shape (len(starts), PARTIAL_FRAMES, N_MELS)
    """
    need = int(starts.max()) + PARTIAL_FRAMES if len(starts) else 0
    if frames.shape[0] < need:
        pad = np.zeros((need - frames.shape[0], frames.shape[1]), dtype=np.float32)
        frames = np.concatenate([frames, pad])
    return np.stack([frames[s : s + PARTIAL_FRAMES] for s in starts]).astype(np.float32)


def mean_embedding(partials: np.ndarray) -> np.ndarray:
    """Normalised mean of unit embeddings, shape (EMBEDDING_SIZE,)."""
    m = np.asarray(partials, dtype=np.float64).mean(axis=0)
    n = np.linalg.norm(m)
    return (m / n if n > 0 else m).astype(np.float32)


@lru_cache(maxsize=1)
def default_encoder() -> SpeakerEncoder:
    """The packaged encoder (loaded once per process)."""
    return SpeakerEncoder.load(MODEL_FILE)
