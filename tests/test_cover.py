"""Cover features and alignment (fingerprints/cover.py) and the cover index, on seeded
synthetic songs: the same composition in another key, tempo and timbre is a cover."""

from __future__ import annotations

import numpy as np
import pytest

from fingerprints import cover
from fingerprints import landmarks as L
from fingerprints.index.cover_index import CoverIndex, CoverSegment
from tests.audio_fixtures import song


def seq(x: np.ndarray) -> cover.ChromaSequence:
    return cover.chroma_sequence(L.log_spectrogram(x))


@pytest.fixture(scope="module")
def songs():
    return {f"s{k}": seq(song(k, 45.0)) for k in range(6)}


def test_a_transposed_faster_rearrangement_aligns_with_its_key_and_tempo(songs):
    c = seq(song(3, 40.0, transpose=3, tempo=1.15, harmonics=2))
    a = cover.align(c, songs["s3"])
    assert a.key_shift_semitones == 3
    assert a.tempo_ratio == pytest.approx(1.15, abs=0.08)
    others = [cover.align(c, songs[k]).score for k in songs if k != "s3"]
    assert a.score > 2 * max(others)
    assert a.query_end_s - a.query_start_s > 20  # most of the upload is aligned


def test_transposition_index_recovers_a_rotation():
    rng = np.random.default_rng(0)
    b = rng.random((12, 50)).astype(np.float32)
    for k in range(12):
        assert cover.transposition(np.roll(b, -k, axis=0), b) == k


def test_the_embedding_ignores_transposition(songs):
    b = songs["s1"].chroma
    np.testing.assert_allclose(cover.ftm(np.roll(b, 5, axis=0)), cover.ftm(b), rtol=1e-5)


def test_the_shortlist_drops_only_repeated_and_fast_time_frequencies():
    rng = np.random.default_rng(2)
    v = cover.ftm(rng.random((12, 80)).astype(np.float32)).reshape(12, -1)
    # a real patch: the magnitudes of time frequency 0 are symmetric in pitch class
    np.testing.assert_allclose(v[7:, 0], v[5:0:-1, 0], rtol=1e-5)
    assert v[0, 0] == 0.0
    kept = np.zeros(cover.DIM, bool)
    kept[cover.SHORTLIST_DIMS] = True
    kept = kept.reshape(12, -1)
    assert kept[:, 1 : cover.SHORTLIST_COLUMNS].all()
    assert not kept[:, cover.SHORTLIST_COLUMNS :].any()
    assert kept[1:7, 0].all() and not kept[7:, 0].any() and not kept[0, 0]
    assert cover.SHORTLIST_DIM == 138


def test_atonal_silent_and_short_uploads_are_not_usable():
    rng = np.random.default_rng(1)
    sr = L.SAMPLE_RATE
    noise = (0.1 * rng.standard_normal(30 * sr)).astype(np.float32)
    clicks = np.zeros(30 * sr, np.float32)
    clicks[:: sr // 4] = 1.0
    drums = np.convolve(clicks, rng.standard_normal(2000) * np.exp(-np.arange(2000) / 300))
    for x in (noise, drums[: 30 * sr].astype(np.float32), np.zeros(30 * sr, np.float32)):
        assert not seq(x).usable
    assert not seq(song(1, 8.0)).usable  # too short for cover evidence
    assert seq(song(1, 30.0)).usable
    assert not cover.chroma_sequence(np.zeros((3, 513), np.float32)).usable


def test_transposition_scores_every_rotation_as_np_roll_does():
    rng = np.random.default_rng(1)
    q, c = rng.random((12, 30)), rng.random((12, 40))
    gq, gc = q.mean(axis=1), c.mean(axis=1)
    by_roll = [float(np.dot(gc, np.roll(gq, k))) for k in range(12)]
    assert cover.transposition(q, c) == int(np.argmax(by_roll))
    for k in range(12):
        assert np.array_equal(gq[cover._ROTATIONS[k]], np.roll(gq, k))


def test_the_coarse_sequences_kept_between_searches_change_no_result(songs, monkeypatch):
    from fingerprints.index import cover_index

    monkeypatch.setattr(cover_index, "COARSE_CACHE", 2)
    seg = CoverSegment.build(songs)
    kept = CoverIndex([seg])
    uploads = [seq(song(k, 40.0, transpose=1, tempo=1.05, harmonics=2)) for k in (1, 4, 1)]
    for up in uploads:
        assert kept.search(up) == CoverIndex([seg]).search(up)  # a fresh index: no cache
        assert len(kept._coarse_cache) <= 2


def test_the_index_finds_the_cover_first_and_survives_a_reload(tmp_path, songs):
    seg = CoverSegment.build(songs)
    seg.save(tmp_path)
    for index in (CoverIndex([seg]), CoverIndex.open(tmp_path, [seg.name])):
        got = index.search(seq(song(4, 40.0, transpose=-2, tempo=0.9, harmonics=2)))
        assert got[0].catalogue_id == "s4"
        assert got[0].alignment.key_shift_semitones == -2
        assert got[0].alignment.score > 2 * got[1].alignment.score
        kept = index.sequence("s4")
        np.testing.assert_allclose(kept.chroma, songs["s4"].chroma, atol=1e-3)  # float16
        np.testing.assert_allclose(kept.plain, songs["s4"].plain, atol=1e-3)
    disabled = CoverIndex([seg]).search(
        seq(song(4, 40.0, transpose=-2)), allowed=lambda cid: cid != "s4"
    )
    assert "s4" not in [m.catalogue_id for m in disabled]


def test_the_shortlist_agrees_with_a_brute_force_scan_of_its_dims(songs):
    index = CoverIndex([CoverSegment.build(songs)])
    q, _ = index.query_vectors(seq(song(4, 40.0, transpose=-2, tempo=0.9, harmonics=2)))
    assert q.shape[1] == cover.SHORTLIST_DIM
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, rtol=1e-5)
    got = index.vectors.shortlist(q, top=len(songs))
    ids = index.vectors.track_ids
    best = {}
    for t, s in songs.items():  # the raw embeddings, projected and centred by hand
        v = cover.sections(s).vectors[:, cover.SHORTLIST_DIMS] - index.centre
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        best[t] = float((q @ v.T).max())
    assert [ids[c.track] for c in got] == sorted(best, key=lambda t: -best[t])
    for c in got:
        assert c.score == pytest.approx(best[ids[c.track]], abs=1e-5)


def test_the_fused_alignment_scores_the_mean_of_both_chromas(songs):
    c = seq(song(3, 40.0, transpose=3, tempo=1.15, harmonics=2))
    ref = songs["s3"]
    crp = cover.align(c, ref)
    plain = cover.align(
        cover.ChromaSequence(c.plain, c.tonal_share), cover.ChromaSequence(ref.plain, 1.0)
    )
    fused = cover.align_fused(c, ref)
    assert fused.score == pytest.approx((crp.score + plain.score) / 2)
    better = crp if crp.score >= plain.score else plain
    assert (fused.key_shift_semitones, fused.tempo_ratio) == (
        better.key_shift_semitones, better.tempo_ratio,
    )  # fmt: skip
    # without the plain chroma: the CRP alignment alone
    bare = cover.ChromaSequence(c.chroma, c.tonal_share)
    assert cover.align_fused(bare, ref) == crp
    with pytest.raises(ValueError, match="plain chroma"):
        CoverSegment.build({"x": bare})


def test_a_segment_of_another_signal_version_is_refused(tmp_path, songs, monkeypatch):
    seg = CoverSegment.build({"s0": songs["s0"]})
    seg.save(tmp_path)
    monkeypatch.setattr(cover, "SIGNAL_VERSION", "999")
    with pytest.raises(ValueError, match="re-ingest"):
        CoverSegment.load(tmp_path / seg.name)


def test_empty_and_unusable_catalogues_give_no_candidates(songs):
    assert CoverIndex([]).search(songs["s0"]) == []
    short = {"x": seq(song(9, 6.0))}
    assert CoverIndex([CoverSegment.build(short)]).search(songs["s0"]) == []


def test_the_chroma_weights_are_librosas():
    import librosa

    ref = librosa.filters.chroma(sr=L.SAMPLE_RATE, n_fft=L.N_FFT, ctroct=5.0, octwidth=2.0)
    np.testing.assert_allclose(cover.chroma_weights(), ref, rtol=1e-5, atol=1e-7)


def test_one_pass_analysis_gives_the_spectrogram_and_the_same_chroma():
    x = song(2, 20.0)
    spec, s = cover.analyse(x)
    np.testing.assert_array_equal(spec, L.log_spectrogram(x))  # bit-identical
    ref = cover.chroma_sequence(spec)
    np.testing.assert_allclose(s.chroma, ref.chroma, rtol=1e-4, atol=1e-5)
    assert s.tonal_share == ref.tonal_share


def _harmonic_tone(f0: float, tilt: float) -> np.ndarray:
    """Magnitude spectrum (513 bins at 11025 Hz) of a harmonic tone whose partial k has
    amplitude k**-tilt, on a faint floor."""
    mag = np.full(L.N_FFT // 2 + 1, 1e-4)
    for k in range(1, 40):
        b = round(f0 * k * L.N_FFT / L.SAMPLE_RATE)
        if b >= mag.size:
            break
        mag[b] += k ** (-tilt)
    return mag


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_the_semitone_bands_are_centred_on_their_pitches():
    w = cover.semitone_weights()
    a4 = 69 - cover.CRP_PITCHES[0]
    assert int(np.argmax(w[:, a4])) == round(440.0 * L.N_FFT / L.SAMPLE_RATE)
    assert not w[: int(60 * L.N_FFT / L.SAMPLE_RATE)].any()  # nothing below 60 Hz


def test_crp_of_a_flat_spectrum_has_no_pitch_class():
    bands = cover.CRP_PITCHES[1] - cover.CRP_PITCHES[0]
    assert not cover.crp(np.ones((3, bands))).any()


@pytest.mark.parametrize("f0, pitch_class", [(261.63, 0), (196.0, 7), (440.0, 9)])
def test_crp_keeps_the_pitch_class_whatever_the_overtone_balance(f0, pitch_class):
    """A bright tone (equal partials, organ-like) and a dull one (partials falling as
    1/k^2) of the same pitch: the plain chroma gives the bright one the fifth and the
    third of its overtones; the CRP chroma is closer between the two."""
    bright, dull = _harmonic_tone(f0, 0.0), _harmonic_tone(f0, 2.0)
    plain = [m @ cover._weights() for m in (bright, dull)]
    crp = [cover.crp(((m**2) @ cover.semitone_weights())[None])[:, 0] for m in (bright, dull)]
    assert [int(np.argmax(c)) for c in crp] == [pitch_class, pitch_class]
    assert _cosine(*crp) > _cosine(*plain) + 0.05
