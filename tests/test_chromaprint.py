"""fingerprints.chromaprint: raw fingerprints from libchromaprint and their bit-error
comparison with an offset search, checked against a pure-Python reference."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from fingerprints import chromaprint as C
from fingerprints.audio import AudioClip, decode, encode
from tests.audio_fixtures import SR, tune


@pytest.fixture(scope="module")
def song() -> np.ndarray:
    return tune(11, 20.0)


@pytest.fixture(scope="module")
def song_fp(song) -> np.ndarray:
    return C.fingerprint(AudioClip(song, SR))


# ---------------------------------------------------------------- fingerprint


def test_fingerprint_shape_and_item_duration(song_fp):
    assert song_fp.dtype == np.uint32 and song_fp.ndim == 1
    assert abs(C.ITEM_S - 0.12381) < 1e-5 and C.ITEM_S == C.HOP / C.SAMPLE_RATE
    # one item per hop, minus the frames the chroma filters need at the end
    assert 20.0 / C.ITEM_S - 25 < song_fp.size <= 20.0 / C.ITEM_S


def test_one_hop_of_delay_is_exactly_one_item():
    """ITEM_S is 1365 samples at 11025 Hz: cutting k hops shifts the items by k."""
    x = tune(3, 12.0, sample_rate=C.SAMPLE_RATE)
    a = C.fingerprint(AudioClip(x, C.SAMPLE_RATE))
    b = C.fingerprint(AudioClip(x[5 * C.HOP :], C.SAMPLE_RATE))
    np.testing.assert_array_equal(a[5 : 5 + b.size], b)
    assert b.size == a.size - 5


def test_fingerprint_is_deterministic_and_rate_independent(song, song_fp):
    np.testing.assert_array_equal(C.fingerprint(AudioClip(song, SR)), song_fp)
    at_44k = C.fingerprint(AudioClip(np.repeat(song, 2), 2 * SR))  # same audio at 44.1 kHz
    assert C.compare(song_fp, at_44k).score > 0.95


def test_too_short_clips_have_no_items():
    assert C.fingerprint(AudioClip(tune(1, 2.5), SR)).size == 0
    assert C.fingerprint(AudioClip(np.zeros(0, np.float32), SR)).size == 0
    assert C.fingerprint(AudioClip(tune(1, 3.5), SR)).size > 0


# ---------------------------------------------------------------- compare on audio


def test_same_audio_scores_one(song_fp):
    m = C.compare(song_fp, song_fp)
    assert m == C.ChromaprintMatch(
        score=1.0, offset_s=0.0, overlap_s=song_fp.size * C.ITEM_S, bit_error_rate=0.0
    )


def test_mp3_64k_reencode_scores_high(tmp_path, song, song_fp):
    encode(song, SR, tmp_path / "s.mp3", codec="mp3", bitrate="64k")
    m = C.compare(song_fp, C.fingerprint(decode(tmp_path / "s.mp3")))
    assert m.offset_s == 0.0
    assert m.score > 0.95


def test_unrelated_audio_scores_low(song_fp):
    for seed in (12, 13):
        m = C.compare(song_fp, C.fingerprint(AudioClip(tune(seed, 20.0), SR)))
        # the best of ~160 offsets of structured audio: above the 0.5 of random bits
        assert 0.45 < m.score < 0.75


@pytest.mark.parametrize("cut_s", [3.7, 0.6])
def test_an_excerpt_is_found_at_its_offset(song, song_fp, cut_s):
    excerpt = C.fingerprint(AudioClip(song[round(cut_s * SR) :], SR))
    m = C.compare(song_fp, excerpt)  # the excerpt starts cut_s seconds into the song
    assert abs(m.offset_s - cut_s) <= C.ITEM_S
    assert m.score > 0.95
    assert m.overlap_s == pytest.approx(excerpt.size * C.ITEM_S)
    back = C.compare(excerpt, song_fp)  # seen from the excerpt: the song starts earlier
    assert back.offset_s == -m.offset_s and back.score == m.score


def test_offsets_beyond_the_search_range_are_not_found(song, song_fp):
    excerpt = C.fingerprint(AudioClip(song[round(12.0 * SR) :], SR))
    assert C.compare(song_fp, excerpt, max_offset_s=5.0, min_overlap_s=2.0).score < 0.8
    found = C.compare(song_fp, excerpt, max_offset_s=13.0, min_overlap_s=2.0)
    assert abs(found.offset_s - 12.0) <= C.ITEM_S and found.score > 0.95


# ---------------------------------------------------------------- compare on items


def _reference(a, b, max_off, min_ov):
    """Pure-Python compare: (errors, overlap, offset) of the best offset, or None.

    Lowest bit error rate (exact fractions); ties: larger overlap, then smaller |offset|,
    then the negative offset."""
    best_key, best = None, None
    for off in range(-max_off, max_off + 1):
        pairs = [(int(a[i + off]), int(b[i])) for i in range(len(b)) if 0 <= i + off < len(a)]
        if len(pairs) < min_ov:
            continue
        errors = sum(bin(x ^ y).count("1") for x, y in pairs)
        key = (Fraction(errors, 32 * len(pairs)), -len(pairs), abs(off), off)
        if best_key is None or key < best_key:
            best_key, best = key, (errors, len(pairs), off)
    return best


def _items(rng, n, low_entropy):
    if low_entropy:  # few distinct values: many exact ties between offsets
        return rng.choice(np.array([0, 1, 3, 0xFFFFFFFF], np.uint32), size=n)
    return rng.integers(0, 2**32, size=n, dtype=np.uint64).astype(np.uint32)


@pytest.mark.parametrize("seed", range(40))
def test_compare_matches_the_brute_force_reference(seed):
    rng = np.random.default_rng(seed)
    low = seed % 3 == 0
    a = _items(rng, int(rng.integers(1, 60)), low)
    if seed % 2:  # b is a noisy excerpt of a
        start = int(rng.integers(0, a.size))
        b = a[start : start + int(rng.integers(1, 50))].copy()
        b[rng.random(b.size) < 0.2] ^= np.uint32(1 << int(rng.integers(0, 32)))
    else:
        b = _items(rng, int(rng.integers(1, 60)), low)
    max_off, min_ov = int(rng.integers(0, 40)), int(rng.integers(1, 20))
    got = C.compare(a, b, max_offset_s=max_off * C.ITEM_S, min_overlap_s=min_ov * C.ITEM_S)
    want = _reference(a, b, max_off, min_ov)
    if want is None:
        assert got is None
        return
    errors, n, off = want
    assert got.offset_items == off
    assert round(got.offset_s / C.ITEM_S, 9) == off
    assert round(got.overlap_s / C.ITEM_S, 9) == n
    assert got.bit_error_rate == errors / (32 * n)
    assert got.score == 1.0 - errors / (32 * n)


def test_random_items_differ_in_half_their_bits():
    rng = np.random.default_rng(7)
    a, b = _items(rng, 400, False), _items(rng, 400, False)
    m = C.compare(a, b)  # best of 161 offsets over >= 40 items
    assert 0.45 < m.bit_error_rate < 0.5
    one = C.compare(a, b, max_offset_s=0.0)
    assert one.offset_s == 0.0 and abs(one.bit_error_rate - 0.5) < 0.01


def test_planted_offset_in_random_items():
    rng = np.random.default_rng(8)
    a = _items(rng, 300, False)
    b = a[37:200].copy()
    b[::4] ^= np.uint32(0x0000F00F)  # 8 of 32 bits in a quarter of the items
    m = C.compare(a, b)
    assert m.offset_items == 37 and m.bit_error_rate == pytest.approx(41 * 8 / (163 * 32))


def test_no_offset_with_enough_overlap_gives_none():
    a = np.arange(10, dtype=np.uint32)
    assert C.compare(a, a, min_overlap_s=11 * C.ITEM_S) is None
    assert C.compare(a, np.zeros(0, np.uint32)) is None
    assert C.compare(a, a, min_overlap_s=10 * C.ITEM_S).score == 1.0


def test_signed_and_wide_integers_are_taken_modulo_2_32():
    rng = np.random.default_rng(9)
    a = _items(rng, 100, False)
    b = _items(rng, 100, False)
    want = C.compare(a, b)
    assert C.compare(a.view(np.int32), b.astype(np.int64)) == want
    assert C.compare(list(a.view(np.int32)), b) == want
    with pytest.raises(TypeError):
        C.compare(a.astype(np.float64), b)
    with pytest.raises(ValueError):
        C.compare(a.reshape(10, 10), b)


def test_lookup_table_popcount_agrees_with_numpy():
    x = np.random.default_rng(10).integers(0, 2**32, size=1000, dtype=np.uint64)
    x = np.concatenate([x.astype(np.uint32), np.array([0, 1, 0xFFFFFFFF], np.uint32)])
    want = [bin(int(v)).count("1") for v in x]
    assert C._popcount_lut(x).tolist() == want
    assert C._popcount(x).tolist() == want


def test_the_library_imports_no_service_code():
    import subprocess
    import sys

    code = (
        "import sys, fingerprints.audio, fingerprints.chromaprint, fingerprints.errors\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('compliance', 'sqlalchemy', 'fastapi', 'starlette', 'pydantic', 'alembic')]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_pcm_conversion_matches_the_plain_formula():
    """The in-place float -> int16 conversion feeds libchromaprint exactly
    ``rint(clip(nan_to_num(x), -1, 1) * 32767)``, and leaves the clip's samples alone."""
    from compliance.synth import synth_piece

    x = synth_piece(2, 12.0, sample_rate=11025).astype(np.float32) * 1.7
    x[:4] = [np.nan, np.inf, -np.inf, 3.0]
    keep = x.copy()
    ref = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)
    ref = np.rint(np.clip(ref, -1.0, 1.0) * 32767.0).astype("<i2")
    # the same int16 samples again, as floats that convert back to exactly them
    same = AudioClip(ref.astype(np.float32) / np.float32(32767.0), 11025)
    assert np.array_equal(
        np.rint(np.clip(same.samples, -1, 1) * np.float32(32767.0)).astype("<i2"), ref
    )
    got = C.fingerprint(AudioClip(x, 11025))
    assert got.size > 0 and np.array_equal(got, C.fingerprint(same))
    assert np.array_equal(x, keep, equal_nan=True)


# ---------------------------------------------------------------- lookup keys


def test_lookup_keys_are_a_consistent_sample(song_fp):
    keys = C.lookup_keys(song_fp)
    assert keys.dtype == np.int64 and np.all(np.diff(keys) > 0) and np.all(keys >= 0)
    part = C.lookup_keys(song_fp[40:130])
    assert part.size and np.isin(part, keys).all()  # a part keeps a subset of the keys
    assert C.key_containment(part, keys) == (part.size, 1.0)
    rng = np.random.default_rng(4)
    random_items = rng.integers(0, 2**32, 32_000, dtype=np.uint64).astype(np.uint32)
    kept = C.lookup_keys(random_items).size
    assert abs(kept - 32_000 / C.KEY_RATE) < 4 * np.sqrt(32_000 / C.KEY_RATE)
    assert C.lookup_keys(np.full(500, 7, np.uint32)).size == 0  # a run (silence) has none
    assert C.lookup_keys(np.zeros(3, np.uint32)).size == 0


def test_a_reencoded_copy_shares_its_keys_and_unrelated_audio_does_not(tmp_path, song, song_fp):
    keys = C.lookup_keys(song_fp)
    encode(song, SR, tmp_path / "s.mp3", codec="mp3", bitrate="64k")
    shared, frac = C.key_containment(C.lookup_keys(C.fingerprint(decode(tmp_path / "s.mp3"))), keys)
    assert shared >= 4 and frac >= 0.25
    for seed in (12, 13, 14):
        other = C.lookup_keys(C.fingerprint(AudioClip(tune(seed, 20.0), SR)))
        assert C.key_containment(other, keys)[1] < 0.25
