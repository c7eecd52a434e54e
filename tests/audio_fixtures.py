"""Seeded synthetic music for the audio-library tests (no audio files in git).

``tune(seed, seconds)`` is a melody of harmonic notes that change every 0.15-0.5 s,
over a chord that changes every 2 s, with percussive noise bursts and a little
background noise: enough onsets and pitch changes for Chromaprint and landmarks, and
different seeds are unrelated.
"""

from __future__ import annotations

import numpy as np

from compliance.synth import synth_voice

SR = 22050


def _tone(freq: float, n: int, sr: int, *, harmonics: int, decay_s: float) -> np.ndarray:
    t = np.arange(n) / sr
    out = np.zeros(n)
    for h in range(1, harmonics + 1):
        if freq * h < 0.45 * sr:
            out += 0.6 ** (h - 1) * np.sin(2 * np.pi * freq * h * t)
    attack = np.minimum(1.0, t / 0.01)
    return out * attack * np.exp(-t / decay_s)


def tune(seed: int, seconds: float, *, sample_rate: int = SR) -> np.ndarray:
    """A mono piece, float32 of shape (round(seconds * sample_rate),), peak 0.8."""
    rng = np.random.default_rng(seed)
    sr = sample_rate
    n = round(seconds * sr)
    y = np.zeros(n)
    root = 48 + int(rng.integers(0, 12))  # MIDI note
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12, 14, 16])
    t = 0.0
    while t < seconds:  # melody
        dur = float(rng.choice([0.15, 0.25, 0.25, 0.5]))
        midi = root + 12 + int(rng.choice(scale))
        i0, i1 = round(t * sr), min(n, round((t + dur) * sr))
        y[i0:i1] += 0.5 * _tone(440 * 2 ** ((midi - 69) / 12), i1 - i0, sr, harmonics=6,
                                decay_s=0.4)  # fmt: skip
        t += dur
    for k in range(int(np.ceil(seconds / 2.0))):  # chords
        i0, i1 = round(2.0 * k * sr), min(n, round(2.0 * (k + 1) * sr))
        base = root + int(rng.choice([0, 5, 7, 9]))
        for iv in (0, 4, 7):
            y[i0:i1] += 0.15 * _tone(440 * 2 ** ((base + iv - 69) / 12), i1 - i0, sr,
                                     harmonics=4, decay_s=1.5)  # fmt: skip
    beat = 0.5 * (0.8 + 0.4 * rng.random())  # drums
    hit = round(0.08 * sr)
    env = np.exp(-np.arange(hit) / (0.02 * sr))
    for k in range(int(seconds / beat)):
        i0 = round(k * beat * sr)
        m = min(hit, n - i0)
        y[i0 : i0 + m] += 0.3 * rng.standard_normal(m) * env[:m]
    y += 0.01 * rng.standard_normal(n)
    return (0.8 * y / np.max(np.abs(y))).astype(np.float32)


def best_lag_correlation(x: np.ndarray, y: np.ndarray, *, max_lag: int) -> tuple[float, int]:
    """Highest Pearson correlation of ``y`` shifted by -max_lag..max_lag samples against
    ``x`` (``y[i + lag]`` with ``x[i]``) and that lag."""
    n = min(x.size, y.size) - 2 * max_lag
    best = (-1.0, 0)
    for lag in range(-max_lag, max_lag + 1):
        a = x[max_lag : max_lag + n]
        b = y[max_lag + lag : max_lag + lag + n]
        c = float(np.corrcoef(a, b)[0, 1])
        if c > best[0]:
            best = (c, lag)
    return best


def song(
    seed: int,
    seconds: float,
    *,
    transpose: int = 0,
    tempo: float = 1.0,
    harmonics: int = 4,
    arpeggio: bool = False,
    sample_rate: int = 11025,
) -> np.ndarray:
    """A seeded composition (chord progression and melody) as one arrangement: the same
    ``seed`` with another ``transpose`` (semitones), ``tempo`` (x faster), timbre
    (``harmonics``) or accompaniment (``arpeggio``: chord notes one after another, the
    melody an octave higher) is a cover of it. Mono float32, peak 0.9."""
    rng = np.random.default_rng(seed)
    sr = sample_rate
    n = round(seconds * sr)
    out = np.zeros(n, np.float32)
    beat = 60.0 / rng.uniform(80, 130) / tempo
    root = 48 + int(rng.integers(0, 12)) + transpose
    chords = [(0, 4, 7), (5, 9, 12), (7, 11, 14), (9, 12, 16), (2, 5, 9), (4, 7, 11)]
    prog = rng.integers(0, len(chords), size=16)
    melody = rng.choice([0, 2, 4, 5, 7, 9, 11, 12], size=64)

    def hz(midi: float) -> float:
        return 440.0 * 2.0 ** ((midi - 69) / 12.0)

    t, k = 0.0, 0
    while t < seconds:
        a = round(t * sr)
        m = min(n - a, round(2 * beat * sr))
        if m <= 0:
            break
        for j, iv in enumerate(chords[prog[k % len(prog)]]):
            d = round(j * 0.5 * beat * sr) if arpeggio else 0
            if m - d > 0:
                tone = _tone(hz(root + iv), m - d, sr, harmonics=harmonics, decay_s=1.5)
                out[a + d : a + m] += 0.25 * tone
        for half in range(2):
            b = a + round(half * beat * sr)
            mm = min(n - b, round(beat * sr))
            if mm > 0:
                note = root + 12 * (2 if arpeggio else 1) + melody[(2 * k + half) % len(melody)]
                out[b : b + mm] += 0.3 * _tone(hz(note), mm, sr, harmonics=harmonics, decay_s=0.6)
        t += 2 * beat
        k += 1
    return (0.9 * out / max(1e-9, float(np.abs(out).max()))).astype(np.float32)


voice = synth_voice
"""A synthetic talker (:func:`compliance.synth.synth_voice`)."""
