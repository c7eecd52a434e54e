"""Seeded music synthesis for the demo and the tests (no audio is committed to git).

Each piece has its own key, tempo, chord progression, bass line, melody and drum
pattern, rendered additively so that it has the onsets, harmonics and noise bursts a
fingerprint needs. Pieces from different seeds share timbres and style on purpose: they
are the hard negatives of a synthetic catalogue.

:func:`synth_voice` is a synthetic talker (glottal pulses through vowel formants) for
the protected-voice demo and tests: the same ``f0`` and ``tract`` are the same
"speaker".
"""

from __future__ import annotations

import numpy as np

_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_MINOR = np.array([0, 2, 3, 5, 7, 8, 10])


def _note(freq: float, n: int, sr: int, *, harmonics: int, decay_s: float, rng) -> np.ndarray:
    t = np.arange(n) / sr
    out = np.zeros(n, np.float32)
    for h in range(1, harmonics + 1):
        amp = (0.6 ** (h - 1)) * (1.0 + 0.1 * rng.standard_normal())
        if freq * h < sr / 2.2:
            out += (amp * np.sin(2 * np.pi * freq * h * t + rng.uniform(0, 2 * np.pi))).astype(
                np.float32
            )
    env = np.exp(-t / decay_s) * np.minimum(1.0, t / 0.005)
    return (out * env).astype(np.float32)


def _drum(kind: str, n: int, sr: int, rng) -> np.ndarray:
    t = np.arange(n) / sr
    if kind == "kick":
        f = 50 + 90 * np.exp(-t / 0.03)
        return (np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / 0.15)).astype(np.float32)
    noise = rng.standard_normal(n).astype(np.float32)
    if kind == "hat":
        noise = np.diff(noise, prepend=0.0).astype(np.float32)
        return noise * np.exp(-t / 0.02).astype(np.float32) * 0.3
    return noise * np.exp(-t / 0.08).astype(np.float32) * 0.5


def _mix_in(out: np.ndarray, start: int, x: np.ndarray, gain: float) -> None:
    """Add ``gain * x`` into ``out`` from ``start``, clipped at the end of ``out``."""
    end = min(out.size, start + x.size)
    if end > start:
        out[start:end] += gain * x[: end - start]


def synth_piece(seed: int, duration_s: float, *, sample_rate: int = 22050) -> np.ndarray:
    """Render a seeded piece.

    Parameters
    ----------
    seed : int
        Different seeds give different pieces; the same seed the same samples.
    duration_s : float
        Length, seconds.
    sample_rate : int
        Hz.

    Returns
    -------
    ndarray of float32, shape (round(duration_s * sample_rate),)
        Peak-normalised to 0.9.
    """
    rng = np.random.default_rng(seed)
    sr = sample_rate
    n = round(duration_s * sr)
    out = np.zeros(n, np.float32)
    bpm = rng.uniform(78, 150)
    beat = 60.0 / bpm
    root = 45 + int(rng.integers(0, 12))  # MIDI note of the key's root (A2..G#3)
    scale = _MAJOR if rng.random() < 0.5 else _MINOR
    progression = rng.choice(7, size=4, replace=True)
    progression[0] = 0
    n_beats = int(duration_s / beat) + 1

    def midi_hz(m: float) -> float:
        return 440.0 * 2 ** ((m - 69) / 12)

    def degree(d: int, octave: int = 0) -> int:
        return root + 12 * (octave + d // 7) + int(scale[d % 7])

    melody_rhythm = rng.choice([0.5, 1.0, 1.0, 1.5, 2.0], size=64)
    mel_deg = int(rng.integers(7, 11))
    drums = {
        "kick": rng.random(8) < np.array([1, 0, 0.3, 0, 0.9, 0, 0.3, 0.2]),
        "snare": rng.random(8) < np.array([0, 0, 1, 0, 0, 0, 1, 0.2]),
        "hat": rng.random(8) < 0.8,
    }
    mel_t, mi = 0.0, 0
    for b in range(n_beats):
        t0 = int(b * beat * sr)
        chord = int(progression[(b // 4) % 4])
        if b % 4 == 0:  # chord pad
            for k, d in enumerate((chord, chord + 2, chord + 4)):
                note = _note(midi_hz(degree(d, 1)), int(4 * beat * sr), sr, harmonics=4,
                             decay_s=2.5 * beat, rng=rng)  # fmt: skip
                _mix_in(out, t0, note, 0.12 * (1 - 0.1 * k))
        bass = _note(midi_hz(degree(chord, -1) + 12 * (b % 2)), int(beat * sr), sr,
                     harmonics=6, decay_s=0.5 * beat, rng=rng)  # fmt: skip
        _mix_in(out, t0, bass, 0.25)
        for half in (0, 1):
            step = (b % 4) * 2 + half
            ts = t0 + int(half * beat * sr / 2)
            for kind, pattern in drums.items():
                if pattern[step]:
                    d = _drum(kind, int(0.3 * sr), sr, rng)
                    _mix_in(out, ts, d, 0.35)
    while mel_t < duration_s:
        dur = float(melody_rhythm[mi % 64]) * beat
        mel_deg = int(np.clip(mel_deg + rng.choice([-2, -1, -1, 0, 1, 1, 2, 3]), 3, 16))
        if rng.random() > 0.15:
            note = _note(midi_hz(degree(mel_deg, 1)), int(dur * sr), sr, harmonics=5,
                         decay_s=0.8 * dur, rng=rng)  # fmt: skip
            _mix_in(out, int(mel_t * sr), note, 0.22)
        mel_t += dur
        mi += 1
    out += 0.003 * rng.standard_normal(n).astype(np.float32)
    return (0.9 * out / (np.max(np.abs(out)) + 1e-9)).astype(np.float32)


_VOWELS = ((730, 1090, 2440), (270, 2290, 3010), (530, 1840, 2480), (570, 840, 2410),
           (300, 870, 2240), (640, 1190, 2390))  # fmt: skip
"""First three formants (Hz) of six English vowels (Peterson & Barney, male means)."""


def synth_voice(
    seed: int,
    seconds: float,
    *,
    f0: float = 120.0,
    tract: float = 1.0,
    sample_rate: int = 16000,
) -> np.ndarray:
    """A synthetic talker: a glottal pulse train through vowel formant resonators.

    Syllables of 150-350 ms with pauses between them, a pitch contour around ``f0`` Hz
    (jitter and intonation), vowels drawn per syllable, formants scaled by ``tract``
    (a shorter vocal tract, as in women and children, is ``tract > 1``). Two calls with
    the same ``f0`` and ``tract`` are the same "speaker" saying other things.

    Returns
    -------
    ndarray of float32, shape (round(seconds * sample_rate),), peak 0.5.
    """
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    n = round(seconds * sample_rate)
    out = np.zeros(n, dtype=np.float64)
    t = 0
    while t < n:
        syl = int(rng.uniform(0.15, 0.35) * sample_rate)
        gap = int(rng.uniform(0.03, 0.25) * sample_rate)
        m = min(syl, n - t)
        if m <= 0:
            break
        tt = np.arange(m) / sample_rate
        pitch = f0 * (
            1 + 0.08 * rng.uniform(-1, 1) + 0.06 * np.sin(2 * np.pi * rng.uniform(2, 5) * tt)
        )
        phase = np.cumsum(pitch / sample_rate)
        src = np.diff(np.floor(phase), prepend=0.0)  # one impulse per glottal cycle
        src = lfilter([1.0], [1.0, -0.97], src)  # glottal roll-off
        src += 0.02 * rng.standard_normal(m)  # breath
        y = src
        for fc in _VOWELS[rng.integers(len(_VOWELS))]:
            f = fc * tract
            bw = 60.0 + 0.05 * f
            r = np.exp(-np.pi * bw / sample_rate)
            y = lfilter([1 - r], [1.0, -2 * r * np.cos(2 * np.pi * f / sample_rate), r * r], y)
        env = np.sin(np.pi * np.arange(m) / m) ** 0.5
        out[t : t + m] += y * env
        t += syl + gap
    peak = np.max(np.abs(out)) or 1.0
    return (0.5 * out / peak).astype(np.float32)
