"""Whole-file Chromaprint (pyacoustid's bindings to libchromaprint) and its comparison.

Chromaprint summarises 12-band chroma energy changes into one 32-bit item per ~0.124 s.
Two copies of the same recording give items that differ in few bits at the right
offset; unrelated audio differs in about half the bits. It cannot follow speed or pitch
changes and is weak on short clips, so the checker uses it as a cheap second opinion on
landmark candidates, never as the search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fingerprints.audio import AudioClip, resample
from fingerprints.errors import FingerprintError

SIGNAL_NAME = "chromaprint"
SIGNAL_VERSION = "1"
"""Algorithm 2 (libchromaprint's default), raw uint32 items."""

SAMPLE_RATE = 11025
ITEM_S = 4096 / 3 / SAMPLE_RATE
"""Seconds per fingerprint item (hop of 1365.33 samples at 11025 Hz, about 0.1238 s)."""


def fingerprint(clip: AudioClip) -> np.ndarray:
    """Raw Chromaprint of a clip.

    Parameters
    ----------
    clip : AudioClip
        Any sample rate (resampled to 11025 Hz, chromaprint's own analysis rate).

    Returns
    -------
    ndarray of uint32, shape (n_items,)
        Empty for clips too short to fingerprint (about 3 s).
    """
    import chromaprint as _cp  # pyacoustid

    clip = resample(clip, SAMPLE_RATE)
    pcm = (np.clip(clip.samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    try:
        fp = _cp.Fingerprinter()
        fp.start(SAMPLE_RATE, 1)
        fp.feed(pcm)
        encoded = fp.finish()
        if not encoded:
            return np.empty(0, np.uint32)
        raw, _algorithm = _cp.decode_fingerprint(encoded)
    except _cp.FingerprintError as exc:
        raise FingerprintError(f"libchromaprint failed: {exc}", code="chromaprint_failed") from None
    return np.asarray(raw, dtype=np.int64).astype(np.uint32)


@dataclass(frozen=True, slots=True)
class ChromaprintMatch:
    """Best alignment of two fingerprints.

    ``offset_s`` is where ``b`` starts in ``a`` (positive: b's content starts
    ``offset_s`` seconds into a); ``score`` = 1 - ``bit_error_rate`` over ``overlap_s``.
    """

    score: float
    offset_s: float
    overlap_s: float
    bit_error_rate: float


def _popcount(x: np.ndarray) -> np.ndarray:
    return np.bitwise_count(x)


def compare(
    a: np.ndarray,
    b: np.ndarray,
    *,
    max_offset_s: float = 10.0,
    min_overlap_s: float = 5.0,
) -> ChromaprintMatch | None:
    """Best offset of ``b`` against ``a`` by bit error rate.

    Parameters
    ----------
    a, b : ndarray of uint32
        Raw fingerprints.
    max_offset_s : float
        Offsets searched: ``-max_offset_s .. +max_offset_s`` seconds.
    min_overlap_s : float
        Offsets with less overlap are not considered.

    Returns
    -------
    ChromaprintMatch or None
        None when no offset has enough overlap.
    """
    a = np.asarray(a, dtype=np.uint32)
    b = np.asarray(b, dtype=np.uint32)
    max_off = round(max_offset_s / ITEM_S)
    min_ov = max(1, round(min_overlap_s / ITEM_S))
    best: tuple[float, int, int] | None = None
    for off in range(-max_off, max_off + 1):
        # b[i] aligned with a[i + off]
        a0, b0 = max(0, off), max(0, -off)
        n = min(a.size - a0, b.size - b0)
        if n < min_ov:
            continue
        errors = int(_popcount(a[a0 : a0 + n] ^ b[b0 : b0 + n]).sum())
        ber = errors / (32.0 * n)
        if best is None or ber < best[0]:
            best = (ber, off, n)
    if best is None:
        return None
    ber, off, n = best
    return ChromaprintMatch(
        score=1.0 - ber, offset_s=off * ITEM_S, overlap_s=n * ITEM_S, bit_error_rate=ber
    )
