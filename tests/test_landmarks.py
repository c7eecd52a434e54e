"""Landmark extraction, hashing, the inverted index (against a brute-force oracle) and
alignment, on signals with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from compliance.synth import synth_piece
from fingerprints import landmarks as L
from fingerprints.align import search
from fingerprints.index.landmark_index import (
    BruteForceIndex,
    LandmarkIndex,
    Postings,
    Segment,
    in_range,
)

SR = L.SAMPLE_RATE


def test_peak_of_a_pure_tone_is_at_its_log_frequency():
    t = np.arange(3 * SR) / SR
    f = 1234.5
    peaks = L.extract_peaks(0.5 * np.sin(2 * np.pi * f * t))
    assert len(peaks) > 0
    expected = 12 * np.log2(f / L.F_REF_HZ)
    assert np.median(np.abs(peaks.p - expected)) < 0.1


def test_silence_and_near_silence_give_no_peaks():
    rng = np.random.default_rng(0)
    assert len(L.extract_peaks(np.zeros(5 * SR, np.float32))) == 0
    assert len(L.extract_peaks(1e-5 * rng.standard_normal(5 * SR))) == 0


def _peaks(t, p, n_frames=2000):
    order = np.argsort(t, kind="stable")
    return L.Peaks(np.asarray(t, np.int32)[order], np.asarray(p, np.float32)[order], n_frames)


def test_hashes_are_invariant_to_pitch_shift_and_time_scaling():
    rng = np.random.default_rng(7)
    t = np.sort(rng.choice(np.arange(0, 1500, 3), size=300, replace=False)) * 2
    p = rng.uniform(5, 50, size=t.size)
    base = L.hash_triplets(_peaks(t, p))
    assert len(base) > 500
    shifted = L.hash_triplets(_peaks(t, p + 1.7))  # pitch shift: hashes identical
    assert np.array_equal(shifted.hashes, base.hashes)
    assert np.allclose(
        L.decode_pitch(shifted.pitches) - L.decode_pitch(base.pitches), 1.7, atol=0.02
    )
    # a uniform time scaling keeps dt12/dt13, so most hashes survive frame rounding
    scaled = L.hash_triplets(_peaks(np.rint(t * 1.1), p), dt_max=int(L.DT_MAX * 1.1))
    common = np.isin(base.hashes, scaled.hashes).mean()
    assert common > 0.7


def test_hash_layout_fits_and_spans_are_the_anchor_to_last_target():
    rng = np.random.default_rng(8)
    t = np.sort(rng.choice(4000, size=400, replace=False))
    tr = L.hash_triplets(_peaks(t, rng.uniform(0, 60, size=400)))
    assert tr.hashes.dtype == np.uint32 and int(tr.hashes.max()) < (1 << L.HASH_BITS)
    assert tr.spans.min() >= L.DT_MIN + 1 and tr.spans.max() <= L.DT_MAX
    assert np.all(np.diff(tr.times.astype(np.int64)) >= 0)


def _random_fp(rng, n, n_frames=3000):
    h = rng.integers(0, 1 << 12, size=n).astype(np.uint32)  # small space: many collisions
    t = np.sort(rng.integers(0, n_frames, size=n)).astype(np.uint32)
    pitch = rng.integers(0, 2000, size=n).astype(np.uint16)
    span = rng.integers(3, 80, size=n).astype(np.uint16)
    return L.Triplets(h, t, pitch, span, n_frames)


@pytest.mark.parametrize("max_bucket", [None, 3])
def test_index_lookup_equals_brute_force(max_bucket):
    rng = np.random.default_rng(42)
    fps = {f"t{i}": _random_fp(rng, int(rng.integers(50, 400))) for i in range(7)}
    index = LandmarkIndex([Segment.build(fps)])
    oracle = BruteForceIndex(fps)
    q = rng.integers(0, 1 << 12, size=300).astype(np.uint32)
    a = index.lookup(q, max_bucket=max_bucket)
    b = oracle.lookup(q, max_bucket=max_bucket)

    def triples(p):
        cols = (p.query_index, p.track, p.time, p.pitch, p.span)
        return sorted(zip(*(c.tolist() for c in cols), strict=True))

    assert triples(a) == triples(b)
    assert len(triples(a)) > 0


def _columns(p):
    return [np.asarray(getattr(p, f)).tolist() for f in Postings.__slots__]


@pytest.mark.parametrize("max_bucket", [None, 3, 10_000])
def test_lookup_in_range_is_lookup_then_the_range_filter(tmp_path, max_bucket):
    """The fused lookup keeps exactly the postings in_range keeps, in lookup order, on
    several segments (global track numbers), with out-of-range hashes in the query, and
    when the kept postings outnumber the query (the kernel's second pass)."""
    rng = np.random.default_rng(7)
    for k in range(2):
        fps = {f"s{k}t{i}": _random_fp(rng, int(rng.integers(300, 900))) for i in range(5)}
        Segment.build(fps).save(tmp_path)
    index = LandmarkIndex.open(tmp_path, sorted(p.name for p in tmp_path.iterdir()))
    n = 3000
    q_hashes = rng.integers(0, 1 << 12, size=n).astype(np.int64)
    q_hashes[:5] = [-1, 1 << 21, (1 << 21) + 7, 1 << 30, 0]  # outside the bucket table
    q_spans = rng.integers(0, 90, size=n).astype(np.uint16)  # 0: clamped to one frame
    q_pitches = rng.integers(0, 2000, size=n).astype(np.uint16)
    ranges = dict(scale_range=(0.85, 1.18), max_pitch=2.6)
    got = index.lookup_in_range(q_hashes, q_spans, q_pitches, max_bucket=max_bucket, **ranges)
    hits = index.lookup(q_hashes, max_bucket=max_bucket)
    keep = in_range(hits, q_spans, q_pitches, **ranges)
    want = Postings(*(getattr(hits, f)[keep] for f in Postings.__slots__))
    assert _columns(got) == _columns(want)
    assert 0 < keep.sum() < keep.size
    if max_bucket == 10_000:
        # every posting in range: more kept postings than query triplets
        wide = dict(scale_range=(0.0, 1e9), max_pitch=1e9)
        got = index.lookup_in_range(q_hashes, q_spans, q_pitches, max_bucket=max_bucket, **wide)
        assert len(got.time) > n
        assert _columns(got) == _columns(hits)


def test_lookup_in_range_of_the_oracle_is_the_same():
    rng = np.random.default_rng(8)
    fps = {f"t{i}": _random_fp(rng, int(rng.integers(50, 300))) for i in range(4)}
    index, oracle = LandmarkIndex([Segment.build(fps)]), BruteForceIndex(fps)
    q = rng.integers(0, 1 << 12, size=400).astype(np.uint32)
    spans = rng.integers(1, 90, size=400).astype(np.uint16)
    pitches = rng.integers(0, 2000, size=400).astype(np.uint16)
    args = dict(scale_range=(0.85, 1.18), max_pitch=2.6)
    a = index.lookup_in_range(q, spans, pitches, **args)
    b = oracle.lookup_in_range(q, spans, pitches, **args)
    assert sorted(zip(*_columns(a), strict=True)) == sorted(zip(*_columns(b), strict=True))
    assert len(a.time) > 0


def test_search_gives_what_the_unfiltered_lookup_gives(catalogue):
    """search() votes on the fused lookup's hits; with the full lookup's hits (the vote
    filters them itself) every match is the same."""
    pieces, index, _fps = catalogue

    class Unfiltered:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def __len__(self):
            return len(self.inner)

        def lookup_in_range(self, hashes, spans, pitches, **_kw):
            return self.inner.lookup(hashes)

    rng = np.random.default_rng(9)
    bed = synth_piece(99, 20.0, sample_rate=SR)
    sample = pieces["p2"][5 * SR : 15 * SR]
    mix = bed.copy()
    mix[4 * SR : 4 * SR + sample.size] += 0.5 * sample
    for clip in (pieces["p1"][3 * SR : 23 * SR], mix, rng.standard_normal(10 * SR) * 0.1):
        clip = clip.astype(np.float32)
        assert search(index, clip) == search(Unfiltered(index), clip)


def test_several_segments_number_tracks_globally(tmp_path):
    rng = np.random.default_rng(1)
    fps1 = {"a": _random_fp(rng, 200), "b": _random_fp(rng, 200)}
    fps2 = {"c": _random_fp(rng, 200)}
    for fps in (fps1, fps2):
        Segment.build(fps).save(tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    index = LandmarkIndex.open(tmp_path, names)
    assert sorted(index.track_ids) == ["a", "b", "c"]
    q = fps2["c"].hashes[:50]
    hits = index.lookup(q, max_bucket=10_000)
    got = {index.track_ids[t] for t in hits.track.tolist()}
    assert "c" in got


def test_segment_save_is_atomic_and_load_roundtrips(tmp_path):
    rng = np.random.default_rng(2)
    seg = Segment.build({"x": _random_fp(rng, 100)})
    seg.save(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [seg.name]
    loaded = Segment.load(tmp_path / seg.name)
    assert loaded.track_ids == ["x"]
    assert np.array_equal(np.asarray(loaded.hashes), seg.hashes)
    with pytest.raises(FileExistsError):
        seg.save(tmp_path)


def test_segment_of_another_signal_version_is_refused(tmp_path):
    import json

    rng = np.random.default_rng(3)
    seg = Segment.build({"x": _random_fp(rng, 10)})
    path = seg.save(tmp_path)
    meta = json.loads((path / "meta.json").read_text())
    meta["signal_version"] = "0"
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="re-ingest"):
        Segment.load(path)


@pytest.fixture(scope="module")
def catalogue():
    pieces = {f"p{i}": synth_piece(10 + i, 30.0, sample_rate=SR) for i in range(4)}
    fps = {k: L.fingerprint(v) for k, v in pieces.items()}
    return pieces, LandmarkIndex([Segment.build(fps)]), fps


def _resample(y, ratio):
    import soxr

    return soxr.resample(y, SR * ratio, SR).astype(np.float32)


def test_excerpt_is_found_with_both_offsets(catalogue):
    pieces, index, _ = catalogue
    q = pieces["p2"][int(8.0 * SR) : int(20.0 * SR)]
    m = search(index, q)
    assert index.track_ids[m[0].track] == "p2"
    assert abs(m[0].catalogue_start_s - m[0].query_start_s - 8.0) < 0.1
    assert m[0].matched_s > 10.0
    assert abs(m[0].speed_ratio - 1.0) < 0.005
    assert abs(m[0].pitch_shift_semitones) < 0.15


def test_brute_force_and_index_give_the_same_best_match(catalogue):
    pieces, index, fps = catalogue
    q = pieces["p1"][int(3.0 * SR) : int(13.0 * SR)]
    a = search(index, q)[0]
    b = search(BruteForceIndex(fps), q)[0]
    assert index.track_ids[a.track] == "p1" and b.track == a.track
    assert a.inliers == b.inliers


@pytest.mark.parametrize("ratio", [0.95, 1.04])
def test_speed_change_is_found_and_measured(catalogue, ratio):
    pieces, index, _ = catalogue
    q = _resample(pieces["p3"][5 * SR : 25 * SR], ratio)
    m = search(index, q)[0]
    assert index.track_ids[m.track] == "p3"
    assert abs(m.speed_ratio - ratio) < 0.01
    assert abs(m.pitch_shift_semitones - 12 * np.log2(ratio)) < 0.25


def test_pitch_shift_is_found_and_measured(catalogue):
    import librosa

    pieces, index, _ = catalogue
    q = librosa.effects.pitch_shift(pieces["p0"][: 20 * SR], sr=SR, n_steps=-2.0)
    m = search(index, q)[0]
    assert index.track_ids[m.track] == "p0"
    assert abs(m.pitch_shift_semitones + 2.0) < 0.25
    assert abs(m.speed_ratio - 1.0) < 0.01


def test_time_stretch_is_found_and_measured(catalogue):
    import librosa

    pieces, index, _ = catalogue
    q = librosa.effects.time_stretch(pieces["p1"][: 20 * SR], rate=1.08)
    m = search(index, q)[0]
    assert index.track_ids[m.track] == "p1"
    assert abs(m.speed_ratio - 1.08) < 0.015
    assert abs(m.pitch_shift_semitones) < 0.25


def test_unrelated_piece_aligns_weakly(catalogue):
    _, index, _ = catalogue
    other = synth_piece(999, 20.0, sample_rate=SR)
    m = search(index, other)
    best_true = search(index, catalogue[0]["p0"][: 20 * SR])[0].inliers
    assert not m or m[0].inliers < 0.1 * best_true


def test_merged_segment_answers_like_its_parts():
    rng = np.random.default_rng(9)
    parts = [Segment.build({f"s{j}t{i}": _random_fp(rng, 300) for i in range(3)}) for j in range(3)]
    merged = Segment.merge(parts)
    q = rng.integers(0, 1 << 12, size=400).astype(np.uint32)

    def named(index):
        p = index.lookup(q, max_bucket=10_000)
        names = [index.track_ids[t] for t in p.track.tolist()]
        cols = (p.query_index.tolist(), names, p.time.tolist(), p.pitch.tolist(), p.span.tolist())
        return sorted(zip(*cols, strict=True))

    assert named(LandmarkIndex([merged])) == named(LandmarkIndex(parts))
    with pytest.raises(ValueError):
        Segment.merge([parts[0], parts[0]])
