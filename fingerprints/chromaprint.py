"""Whole-file Chromaprint (libchromaprint through pyacoustid) and its comparison.

Chromaprint turns 12-band chroma energy changes into one 32-bit item per 1365 samples at
11025 Hz (:data:`ITEM_S`, about 0.124 s). Two copies of the same recording give items
that differ in few bits at the right offset; unrelated audio differs in about half of
them (a bit error rate near 0.5, so a score near 0.5, not 0). It cannot follow speed or
pitch changes and needs about 3 s of audio, so the checker uses it as a cheap
whole-file second opinion on landmark candidates, never as the search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fingerprints.audio import AudioClip, resample
from fingerprints.errors import FingerprintError

__all__ = [
    "ALGORITHM",
    "ITEM_S",
    "SAMPLE_RATE",
    "SIGNAL_NAME",
    "SIGNAL_VERSION",
    "ChromaprintMatch",
    "compare",
    "fingerprint",
]

SIGNAL_NAME = "chromaprint"
SIGNAL_VERSION = "1"
"""Algorithm 2 (libchromaprint's default), raw uint32 items, input resampled by soxr."""

ALGORITHM = 1
"""libchromaprint's ``CHROMAPRINT_ALGORITHM_TEST2`` (enum value 1), the default
"algorithm 2" that fpcalc and AcoustID use."""

SAMPLE_RATE = 11025
"""Chromaprint's analysis rate, Hz; clips are resampled to it before fingerprinting."""

HOP = 1365
"""Samples at :data:`SAMPLE_RATE` between items: frames of 4096 samples overlapping by
``4096 - 4096 // 3``, so the hop is ``4096 // 3`` (an integer, not 4096 / 3)."""

ITEM_S = HOP / SAMPLE_RATE
"""Seconds per fingerprint item (1365 / 11025 = 0.12381 s)."""


def fingerprint(clip: AudioClip) -> np.ndarray:
    """Raw Chromaprint of a clip.

    Parameters
    ----------
    clip : AudioClip
        Mono audio at any sample rate; resampled to :data:`SAMPLE_RATE` (11025 Hz) with
        soxr and fed to libchromaprint as 16-bit PCM (clipped to [-1, 1]).

    Returns
    -------
    ndarray of uint32, shape (n_items,)
        Item ``i`` describes the audio from ``i * ITEM_S`` seconds on. Empty for clips
        shorter than about 2.9 s (too short to fingerprint).

    Raises
    ------
    FingerprintError
        ``chromaprint_unavailable`` when libchromaprint cannot be loaded,
        ``chromaprint_failed`` when it reports an error.
    """
    try:
        import chromaprint as _cp  # the module of the pyacoustid distribution
    except ImportError as exc:
        raise FingerprintError(
            f"libchromaprint cannot be loaded ({exc}; scripts/install-system-deps.sh)",
            code="chromaprint_unavailable",
        ) from None

    x = resample(clip, SAMPLE_RATE).samples
    if x.size == 0:
        return np.empty(0, np.uint32)
    # One copy, then in place: the same values as rint(clip(nan_to_num(x)) * 32767).
    x = np.nan_to_num(np.asarray(x, dtype=np.float32), nan=0.0, posinf=1.0, neginf=-1.0)
    np.clip(x, -1.0, 1.0, out=x)
    x *= np.float32(32767.0)
    np.rint(x, out=x)
    pcm = x.astype("<i2").tobytes()
    try:
        fp = _cp.Fingerprinter(ALGORITHM)
        fp.start(SAMPLE_RATE, 1)
        fp.feed(pcm)
        encoded = fp.finish()
        if not encoded:
            return np.empty(0, np.uint32)
        raw, algorithm = _cp.decode_fingerprint(encoded)
    except _cp.FingerprintError as exc:
        raise FingerprintError(
            f"libchromaprint failed: {exc!r}", code="chromaprint_failed"
        ) from None
    if algorithm != ALGORITHM:
        raise FingerprintError(
            f"libchromaprint used algorithm {algorithm}, not {ALGORITHM}",
            code="chromaprint_failed",
        )
    # items come back as Python ints; signed or unsigned depending on the binding
    return (np.asarray(raw, dtype=np.int64) & 0xFFFFFFFF).astype(np.uint32)


@dataclass(frozen=True, slots=True)
class ChromaprintMatch:
    """The best alignment of two fingerprints.

    Attributes
    ----------
    score : float
        ``1 - bit_error_rate``, in 0..1: 1 for identical items, about 0.5 for unrelated
        audio.
    offset_s : float
        Where ``b`` starts in ``a``, seconds: item ``b[i]`` is aligned with
        ``a[i + offset_s / ITEM_S]``. Positive: the matching content starts
        ``offset_s`` seconds later in ``a`` than in ``b`` (``b`` is ``a`` with its
        first ``offset_s`` seconds cut off); negative: it starts ``-offset_s`` seconds
        later in ``b``. Always a whole number of items.
    overlap_s : float
        Length of the compared overlap, seconds (items times :data:`ITEM_S`).
    bit_error_rate : float
        Differing bits / (32 * overlapping items), in 0..1.
    """

    score: float
    offset_s: float
    overlap_s: float
    bit_error_rate: float

    @property
    def offset_items(self) -> int:
        """``offset_s`` in items."""
        return round(self.offset_s / ITEM_S)


_POP16: np.ndarray | None = None


def _popcount_lut(x: np.ndarray) -> np.ndarray:
    """Set bits of each uint32 by a 16-bit lookup table (for numpy < 2)."""
    global _POP16
    if _POP16 is None:
        _POP16 = np.array([bin(i).count("1") for i in range(1 << 16)], dtype=np.uint8)
    return _POP16[x & 0xFFFF] + _POP16[x >> 16]


_popcount = getattr(np, "bitwise_count", _popcount_lut)
"""Set bits of each element: ``np.bitwise_count`` (numpy >= 2) or the lookup table."""


def _as_items(x: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D fingerprint, not shape {arr.shape}")
    if arr.dtype == np.uint32:
        return arr
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integer items, not {arr.dtype}")
    return (arr.astype(np.int64) & 0xFFFFFFFF).astype(np.uint32)


def compare(
    a: np.ndarray,
    b: np.ndarray,
    *,
    max_offset_s: float = 10.0,
    min_overlap_s: float = 5.0,
) -> ChromaprintMatch | None:
    """Align ``b`` against ``a`` at the offset with the lowest bit error rate.

    Every whole-item offset ``k`` in ``-K..K`` (``K = round(max_offset_s / ITEM_S)``)
    whose overlap has at least ``round(min_overlap_s / ITEM_S)`` items (at least 1) is
    scored: ``b[i]`` against ``a[i + k]`` over all ``i`` where both exist, with a
    vectorised popcount of the XOR. Ties in the bit error rate go to the larger
    overlap, then the smaller ``|k|``, then the negative ``k``.

    Parameters
    ----------
    a, b : ndarray of uint32, shape (n_a,) and (n_b,)
        Raw fingerprints from :func:`fingerprint` (other integer dtypes are taken
        modulo 2**32).
    max_offset_s : float
        Largest shift searched, seconds, either way. Content that starts further
        apart in the two files is not found: this is a whole-file comparison.
    min_overlap_s : float
        Offsets that overlap less are not scored, seconds.

    Returns
    -------
    ChromaprintMatch or None
        The best offset; None when no offset overlaps enough (for instance when a
        fingerprint is shorter than ``min_overlap_s``).

    Notes
    -----
    The best of many offsets is an optimistic estimate: unrelated music scores about
    0.55-0.7 with the defaults (items of real audio are far from random bits, and short
    overlaps at the edge of the search vary most), random items about 0.51; copies of
    the same recording score above 0.95, a 64 kbit/s MP3 of it too.
    """
    a = _as_items(a, "a")
    b = _as_items(b, "b")
    if max_offset_s < 0 or min_overlap_s < 0:
        raise ValueError("max_offset_s and min_overlap_s must be >= 0")
    max_off = round(max_offset_s / ITEM_S)
    min_ov = max(1, round(min_overlap_s / ITEM_S))
    # offsets outside -(n_b - min_ov) .. n_a - min_ov cannot overlap by min_ov items
    lo = max(-max_off, -(b.size - min_ov))
    hi = min(max_off, a.size - min_ov)
    best: tuple[int, int, int] | None = None  # (errors, n, offset)
    for off in sorted(range(lo, hi + 1), key=lambda k: (abs(k), k)):
        a0, b0 = max(0, off), max(0, -off)
        n = min(a.size - a0, b.size - b0)
        if n < min_ov:
            continue
        errors = int(_popcount(a[a0 : a0 + n] ^ b[b0 : b0 + n]).sum(dtype=np.int64))
        # lower rate wins (exact comparison of errors/n); then larger overlap; the
        # |offset| order of the loop settles the remaining ties
        if (
            best is None
            or errors * best[1] < best[0] * n
            or (errors * best[1] == best[0] * n and n > best[1])
        ):
            best = (errors, n, off)
    if best is None:
        return None
    errors, n, off = best
    ber = errors / (32.0 * n)
    return ChromaprintMatch(
        score=1.0 - ber, offset_s=off * ITEM_S, overlap_s=n * ITEM_S, bit_error_rate=ber
    )


KEY_BITS = 16
"""Top bits of each of the two items a lookup key is made of."""
KEY_GAP = 4
"""Items between the two items of a key (0.5 s)."""
KEY_RATE = 16
"""One key in this many (by the key's hash) is kept: :func:`lookup_keys`."""
_MASK64 = (1 << 64) - 1


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a fixed bijection of uint64 that spreads the keys' bits."""
    x = x.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def lookup_keys(items: np.ndarray) -> np.ndarray:
    """A consistent sample of a fingerprint's item pairs, for finding copies of the same
    audio in a table of many recordings (the history of delivered releases).

    Every pair of items :data:`KEY_GAP` apart gives a key (the top :data:`KEY_BITS` bits
    of both; pairs inside a run of identical items, such as silence, are skipped); a key
    is kept when its hash falls in the lowest 1/:data:`KEY_RATE` of the hash range. The
    choice depends on the key alone, so two copies of a recording keep the same keys
    wherever the items survived the copy, and a part of a recording keeps a subset of
    the whole's keys. About 27 keys per minute of music.

    Parameters
    ----------
    items : ndarray of uint32, shape (n_items,)
        A raw fingerprint (:func:`fingerprint`).

    Returns
    -------
    ndarray of int64, shape (n_keys,)
        The kept keys' hashes (as signed 64-bit integers, for a database column),
        sorted, unique.
    """
    fp = _as_items(items, "items")
    if fp.size <= KEY_GAP:
        return np.empty(0, np.int64)
    shift = np.uint32(32 - KEY_BITS)
    first, second = fp[:-KEY_GAP] >> shift, fp[KEY_GAP:] >> shift
    moving = fp[:-KEY_GAP] != fp[1 : fp.size - KEY_GAP + 1]
    keys = (first.astype(np.uint64) << np.uint64(KEY_BITS)) | second.astype(np.uint64)
    h = _mix64(keys[moving])
    h = np.unique(h[h < np.uint64((_MASK64 + 1) // KEY_RATE)])
    return h.view(np.int64)


def key_containment(query: np.ndarray, reference: np.ndarray) -> tuple[int, float]:
    """How many :func:`lookup_keys` two recordings share, and that count over the
    smaller key set (1.0 when one is a copy of a part of the other and every key
    survived).

    On the development corpus (212 catalogue tracks against its 84 unrelated uploads:
    17,808 pairs), no unrelated pair shared 4 keys and a quarter of the smaller set (the
    most keys shared: 7, at 0.125; the largest share: 0.25, of 2 keys); of the copies,
    every 64 kbit/s MP3 (28), every copy with noise at 20 dB and every 30 s excerpt (20
    each) did, at 10 dB 14 of 20, 15 s excerpts 8 of 20, EQ 5 of 20, speed, pitch or
    tempo changes none (docs/benchmarks.md, issue 6). About 27 keys per minute.
    """
    q = np.asarray(query, np.int64)
    r = np.asarray(reference, np.int64)
    if q.size == 0 or r.size == 0:
        return 0, 0.0
    shared = int(np.intersect1d(q, r, assume_unique=True).size)
    return shared, shared / min(q.size, r.size)
