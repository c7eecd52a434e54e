"""The presence check (second stage for samples under louder material)."""

from __future__ import annotations

import numpy as np
import pytest

from compliance.synth import synth_piece
from fingerprints import landmarks as L
from fingerprints import presence as P
from fingerprints.align import search
from fingerprints.index.landmark_index import LandmarkIndex, Segment

SR = L.SAMPLE_RATE


def _slow_scores(contrast, t, p, *, scale, pitch_shift, offset_frames):
    """Per-offset best-window score, one offset and one window at a time."""
    n_q, n_f = contrast.shape
    width = round(P.WINDOW_S / L.FRAME_S)
    step = round(1.0 / L.FRAME_S)
    starts = range(0, max(n_q - width, 0) + 1, step)
    offs = offset_frames + np.concatenate(
        [np.arange(-P.SEARCH_FRAMES, P.SEARCH_FRAMES + 1), P._SIDE_FRAMES]
    )
    scores = []
    for off in offs:
        best = -np.inf
        for w in starts:
            total, n = 0.0, 0
            for tc, pc in zip(t, p, strict=True):
                f = L.F_REF_HZ * 2.0 ** ((pc + pitch_shift) / 12.0)
                fb = round(f / P._HZ_PER_BIN) - P._LO_BIN
                if not 0 <= fb < n_f:
                    continue
                if not (off + scale * w <= tc < off + scale * (w + width)):
                    continue
                tq = round((tc - off) / scale)
                if 0 <= tq < n_q:
                    total += float(contrast[tq, fb])
                    n += 1
            best = max(best, total / np.sqrt(max(n, 1)))
        scores.append(best)
    return np.asarray(scores)


def test_verify_agrees_with_a_slow_reference():
    rng = np.random.default_rng(7)
    contrast = rng.standard_normal((700, 220)).astype(np.float32)
    t = np.sort(rng.integers(0, 2400, size=300))
    p = rng.uniform(0.0, 40.0, size=300)
    got = P.verify(contrast, t, p, scale=1.03, pitch_shift=0.4, offset_frames=900.0)
    ref = _slow_scores(contrast, t, p, scale=1.03, pitch_shift=0.4, offset_frames=900.0)
    n_c = 2 * P.SEARCH_FRAMES + 1
    med = np.median(ref[n_c:])
    mad = max(1.4826 * np.median(np.abs(ref[n_c:] - med)), P.MAD_FLOOR)
    assert got is not None
    assert got.z == pytest.approx((ref[:n_c].max() - med) / mad, rel=1e-4, abs=1e-4)


@pytest.fixture(scope="module")
def mixes():
    song = synth_piece(31, 40.0, sample_rate=SR)
    bed = synth_piece(77, 36.0, sample_rate=SR)
    other = synth_piece(55, 40.0, sample_rate=SR)

    def rms(x):
        return float(np.sqrt(np.mean(x**2)))

    excerpt = song[int(12.0 * SR) : int(24.0 * SR)]
    under = bed.copy()
    start = int(10.0 * SR)
    gain = rms(bed) / rms(excerpt) * 10 ** (-6.0 / 20)  # the sample 6 dB under the bed
    under[start : start + excerpt.size] += gain * excerpt
    return song, other, bed, under / np.abs(under).max()


def _contrast(x):
    return P.contrast_map(L.log_spectrogram(x))


def test_sample_under_a_bed_is_present_only_at_its_alignment(mixes):
    song, _, _, under = mixes
    pk = L.extract_peaks(song)
    right = P.verify(
        _contrast(under), pk.t, pk.p, scale=1.0, pitch_shift=0.0,
        offset_frames=(12.0 - 10.0) / L.FRAME_S,
    )  # fmt: skip
    wrong = P.verify(
        _contrast(under), pk.t, pk.p, scale=1.0, pitch_shift=0.0,
        offset_frames=(3.0 - 10.0) / L.FRAME_S,
    )  # fmt: skip
    assert right is not None and wrong is not None
    assert right.z > 8.0
    assert wrong.z < 4.0
    # the reported extent is the sample's (upload 10-22 s), not just the 8 s window
    assert abs(right.query_start_s - 10.0) <= 1.5
    assert abs(right.query_end_s - 22.0) <= 1.5


def test_unrelated_bed_has_no_presence(mixes):
    song, _, bed, _ = mixes
    pk = L.extract_peaks(song)
    got = P.verify(_contrast(bed), pk.t, pk.p, scale=1.0, pitch_shift=0.0, offset_frames=86.0)
    assert got is not None and got.z < 4.0


def test_too_few_peaks_in_reach_gives_none():
    contrast = np.zeros((400, 200), np.float32)
    assert P.verify(contrast, np.array([5, 9]), np.array([10.0, 12.0]), scale=1.0,
                    pitch_shift=0.0, offset_frames=0.0) is None  # fmt: skip


def test_search_reports_presence_and_index_keeps_peaks(mixes, tmp_path):
    song, other, _, under = mixes
    fps = {"song": L.fingerprint(song), "other": L.fingerprint(other)}
    Segment.build(fps, name="seg-a").save(tmp_path)
    index = LandmarkIndex.open(tmp_path, ["seg-a"])
    t, p = index.track_peaks(0)
    np.testing.assert_array_equal(t, fps["song"].peaks.t)
    # stored in 1/32 semitone, clipped at 0 like the postings' anchor pitches
    np.testing.assert_array_equal(p, L.decode_pitch(L.encode_pitch(fps["song"].peaks.p)))
    found = [m for m in search(index, under) if index.track_ids[m.track] == "song"]
    assert found and max(m.presence_z or 0.0 for m in found) > 8.0
    best = max(found, key=lambda m: m.presence_z or 0.0)
    assert abs(best.catalogue_start_s - best.query_start_s - 2.0) < 0.1
    plain = search(index, under, verify_samples=False)
    assert all(m.presence_z is None for m in plain)


def test_merge_keeps_every_tracks_peaks():
    a = {"a": L.fingerprint(synth_piece(1, 6.0, sample_rate=SR))}
    b = {"b": L.fingerprint(synth_piece(2, 6.0, sample_rate=SR))}
    merged = Segment.merge([Segment.build(a), Segment.build(b)])
    for n, fp in enumerate((a["a"], b["b"])):
        t, _ = merged.track_peaks(n)
        np.testing.assert_array_equal(t, fp.peaks.t)


def test_peaks_from_a_given_spectrogram_are_the_same():
    x = synth_piece(4, 8.0, sample_rate=SR)
    a, b = L.extract_peaks(x), L.extract_peaks(x, spec=L.log_spectrogram(x))
    np.testing.assert_array_equal(a.t, b.t)
    np.testing.assert_array_equal(a.p, b.p)


def test_peak_sets_equal_separate_extractions_and_the_catalogue_keeps_the_dense_one():
    x = synth_piece(6, 10.0, sample_rate=SR)
    sparse, dense = L.extract_peak_sets(x, (24.0, 48.0))
    for got, pps in ((sparse, 24.0), (dense, 48.0)):
        ref = L.extract_peaks(x, peaks_per_second=pps)
        np.testing.assert_array_equal(got.t, ref.t)
        np.testing.assert_array_equal(got.p, ref.p)
    fp = L.fingerprint(x)
    ref = L.hash_triplets(L.extract_peaks(x), fan_out=4)
    np.testing.assert_array_equal(fp.hashes, ref.hashes)
    np.testing.assert_array_equal(fp.times, ref.times)
    assert len(fp.peaks) == len(dense) > len(sparse)


def test_a_region_of_the_upload_gives_the_same_answer_in_upload_terms(mixes):
    song, _, _, under = mixes
    pk = L.extract_peaks(song)
    c = _contrast(under)
    off = (12.0 - 10.0) / L.FRAME_S
    whole = P.verify(c, pk.t, pk.p, scale=1.0, pitch_shift=0.0, offset_frames=off)
    r0 = 200
    part = P.verify(c[r0:], pk.t, pk.p, scale=1.0, pitch_shift=0.0, offset_frames=off + r0)
    part = P.shifted(part, r0, 1.0)
    assert part.offset_frames == pytest.approx(whole.offset_frames)
    assert part.query_start_s == pytest.approx(whole.query_start_s, abs=1.0)
    assert part.z == pytest.approx(whole.z, rel=0.25)


def test_merge_with_a_segment_without_peaks_keeps_the_others():
    a = {"a": L.fingerprint(synth_piece(1, 6.0, sample_rate=SR))}
    old = L.fingerprint(synth_piece(2, 6.0, sample_rate=SR))
    b = {"b": L.Triplets(old.hashes, old.times, old.pitches, old.spans, old.n_frames)}
    merged = Segment.merge([Segment.build(b), Segment.build(a)])
    assert merged.track_peaks(0)[0].size == 0  # the format-3 track: nothing to check
    np.testing.assert_array_equal(merged.track_peaks(1)[0], a["a"].peaks.t)


def _best_run_loop(gain):
    """Kadane's scan as first written (the reference of the vectorised best_run)."""
    best, run, start, lo, hi = 0.0, 0.0, 0, 0, 0
    for k, g in enumerate(gain):
        if run <= 0.0:
            run, start = 0.0, k
        run += float(g)
        if run > best:
            best, lo, hi = run, start, k + 1
    return best, lo, hi


def test_best_run_is_kadanes_scan():
    from fingerprints.presence import best_run

    rng = np.random.default_rng(7)
    for n in (0, 1, 2, 5, 50, 2000):
        for shift in (-0.6, -0.3, 0.0, 0.2):
            # integer-valued gains: sums are exact, so ties break the same way
            gain = np.round(rng.normal(shift, 1.0, n) * 4.0)
            got, want = best_run(gain), _best_run_loop(gain)
            assert got[0] == pytest.approx(want[0]) and got[1:] == want[1:], (n, shift)
    assert best_run(np.array([-1.0, -2.0])) == (0.0, 0, 0)
    assert best_run(np.array([1.0, -3.0, 2.0, 2.0, -1.0])) == (4.0, 2, 4)
