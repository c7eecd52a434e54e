"""The coherence check: the catalogue recording's waveform (the phase of its peaks)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import fft as sp_fft
from scipy.signal import butter, sosfilt

from compliance.detectors.base import CatalogueMatch
from compliance.detectors.landmark_evidence import (
    COHERENCE_MIDPOINT,
    landmark_evidence,
    masked,
    match_strength,
)
from compliance.domain import EvidenceKind
from compliance.synth import synth_piece
from fingerprints import coherence as C
from fingerprints import landmarks as L
from fingerprints.align import search
from fingerprints.index.landmark_index import LandmarkIndex, Segment

SR = L.SAMPLE_RATE


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)))


def _delayed(x: np.ndarray, samples: float) -> np.ndarray:
    """``x`` delayed by a fractional number of samples (an exact band-limited shift)."""
    n = x.size
    spec = sp_fft.rfft(x, 2 * n)
    f = np.arange(spec.size) / (2 * n)
    return sp_fft.irfft(spec * np.exp(-2j * np.pi * f * samples), 2 * n)[:n].astype(np.float32)


def _stored_peaks(song: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The catalogue side as the index keeps it: frames, bins and phase codes."""
    pk = L.fingerprint(song).peaks
    p = L.decode_pitch(L.encode_pitch(pk.p))
    return pk.t, L.peak_bins(p), pk.phases


@pytest.fixture(scope="module")
def tracks():
    return (
        synth_piece(31, 40.0, sample_rate=SR),
        synth_piece(77, 36.0, sample_rate=SR),
        synth_piece(55, 40.0, sample_rate=SR),
    )


def _sample_under(song, bed, *, rel_db, delay, cat_start=12.0, length=12.0, at=10.0):
    """``bed`` with ``song[cat_start : cat_start + length]`` added at ``at`` seconds plus
    ``delay`` samples, ``rel_db`` relative to the bed."""
    excerpt = song[int(cat_start * SR) : int((cat_start + length) * SR)]
    placed = np.zeros_like(bed)
    placed[int(at * SR) : int(at * SR) + excerpt.size] = excerpt
    placed = _delayed(placed, delay)
    gain = _rms(bed) / _rms(excerpt) * 10 ** (rel_db / 20)
    return bed + gain * placed


def test_peak_phases_are_the_stft_phase_at_the_peaks():
    x = np.random.default_rng(3).standard_normal(SR * 3).astype(np.float32)
    t = np.array([0, 5, 40, 120])
    p = np.array([0.0, 13.37, 30.0, 50.5])
    got = C.peak_phases(x, t, p)
    frames = np.lib.stride_tricks.sliding_window_view(x, L.N_FFT)[:: L.HOP][t]
    spec = sp_fft.rfft(frames * np.hanning(L.N_FFT), axis=1)
    want = np.angle(spec[np.arange(t.size), L.peak_bins(p)])
    diff = (got.astype(float) * 2 * np.pi / C.PHASE_LEVELS - want + np.pi) % (2 * np.pi) - np.pi
    assert np.abs(diff).max() <= np.pi / C.PHASE_LEVELS + 1e-4
    with pytest.raises(ValueError):
        C.peak_phases(x, np.array([10_000]), np.array([1.0]))


def test_the_upload_spectrum_is_the_landmark_frames_stft():
    x = np.random.default_rng(4).standard_normal(SR * 30).astype(np.float32)
    spectrum = C.UploadSpectrum(x)
    assert spectrum.n_frames == L.log_spectrogram(x).shape[0]
    frames = np.lib.stride_tricks.sliding_window_view(x, L.N_FFT)[:: L.HOP]
    t = np.array([7, 7, 300, C.UploadSpectrum.BLOCK + 3, spectrum.n_frames - 1])  # sorted
    k = np.array([20, 400, 3, 100, 512])
    want = sp_fft.rfft(frames[t] * np.hanning(L.N_FFT), axis=1)[np.arange(t.size), k]
    np.testing.assert_allclose(spectrum.phasors(t, k), want / np.abs(want), atol=1e-4)


@pytest.mark.parametrize("delay", [0.0, 37.4, -101.7])
def test_a_sample_under_a_bed_is_coherent_at_its_alignment_only(tracks, delay):
    song, bed, _ = tracks
    t, k, codes = _stored_peaks(song)
    upload = _sample_under(song, bed, rel_db=-12.0, delay=delay)
    phases = C.UploadSpectrum(upload)
    truth = (12.0 - 10.0) * SR - delay  # catalogue sample minus upload sample
    right = C.verify(phases, t, k, codes, offset_frames=truth / L.HOP + 2.0)  # 2 frames off
    wrong = C.verify(phases, t, k, codes, offset_frames=truth / L.HOP + 300.0)
    assert right is not None and wrong is not None
    assert right.z > 15.0 and wrong.z < 6.0
    # the alignment to the sample: whole frames and the sub-frame delay
    assert right.offset_frames * L.HOP + right.delay_samples == pytest.approx(truth, abs=1.0)
    assert abs(right.query_start_s - 10.0) <= 1.5 and abs(right.query_end_s - 22.0) <= 1.5


def test_gain_equalisation_and_polarity_keep_the_waveform(tracks):
    song, bed, _ = tracks
    t, k, codes = _stored_peaks(song)
    treated = -sosfilt(butter(2, 1500, "lowpass", fs=SR, output="sos"), song).astype(np.float32)
    upload = _sample_under(treated, bed, rel_db=-9.0, delay=12.3)
    got = C.verify(C.UploadSpectrum(upload), t, k, codes, offset_frames=2.0 / L.FRAME_S)
    assert got is not None and got.z > 10.0


def test_unrelated_music_is_not_coherent(tracks):
    song, bed, other = tracks
    t, k, codes = _stored_peaks(song)
    for upload in (bed, other):
        phases = C.UploadSpectrum(upload)
        for off in (-200.0, 0.0, 150.0, 600.0):
            got = C.verify(phases, t, k, codes, offset_frames=off)
            assert got is None or got.z < 6.0


def test_a_region_and_too_few_peaks():
    phases = C.UploadSpectrum(np.zeros(299 * L.HOP + L.N_FFT, np.float32))
    t, k = np.array([3, 9]), np.array([40, 41])
    assert C.verify(phases, t, k, np.zeros(2, np.uint8), offset_frames=0.0) is None
    t = np.arange(0, 600, 2)
    k = np.full(t.size, 50)
    got = C.verify(phases, t, k, np.zeros(t.size, np.uint8), offset_frames=0.0, region=(100, 200))
    assert got is not None and 100 * L.FRAME_S <= got.query_start_s < got.query_end_s
    assert got.query_end_s <= 200 * L.FRAME_S + 1e-9


def test_the_index_keeps_phases_and_a_merge_with_an_older_segment_keeps_the_newer(tmp_path):
    a = {"a": L.fingerprint(synth_piece(1, 6.0, sample_rate=SR))}
    b = {"b": L.fingerprint(synth_piece(2, 6.0, sample_rate=SR))}
    c = {"c": L.fingerprint(synth_piece(3, 6.0, sample_rate=SR))}
    Segment.build(a, name="seg-a").save(tmp_path)
    index = LandmarkIndex.open(tmp_path, ["seg-a"])
    np.testing.assert_array_equal(index.track_phases(0), a["a"].peaks.phases)
    assert index.track_phases(0).size == index.track_peaks(0)[0].size
    merged = Segment.merge([Segment.build(a), Segment.build(b)])
    np.testing.assert_array_equal(merged.track_phases(1), b["b"].peaks.phases)
    assert merged.phase_tracks is None
    old = Segment.build(b)
    old.phases = None  # as a format-4 segment loads
    mixed = Segment.merge([Segment.build(a), old, Segment.build(c)], name="seg-m")
    mixed.save(tmp_path)
    # the older track has none; the others keep theirs, through a save and a later merge
    for seg in (mixed, Segment.load(tmp_path / "seg-m"), Segment.merge([mixed])):
        np.testing.assert_array_equal(seg.track_phases(0), a["a"].peaks.phases)
        assert seg.track_phases(1) is None
        np.testing.assert_array_equal(seg.track_phases(2), c["c"].peaks.phases)
        np.testing.assert_array_equal(seg.track_peaks(2)[0], c["c"].peaks.t)


def test_search_finds_a_quiet_sample_by_its_waveform(tracks, tmp_path):
    song, bed, other = tracks
    fps = {"song": L.fingerprint(song), "other": L.fingerprint(other)}
    Segment.build(fps, name="seg-a").save(tmp_path)
    index = LandmarkIndex.open(tmp_path, ["seg-a"])
    upload = _sample_under(song, bed, rel_db=-6.0, delay=55.5, at=10.5)
    found = [m for m in search(index, upload) if index.track_ids[m.track] == "song"]
    best = max(found, key=lambda m: m.coherence_z or 0.0)
    assert best.coherence_z is not None and best.coherence_z > COHERENCE_MIDPOINT
    assert abs(best.catalogue_start_s - best.query_start_s - 1.5) < 0.1
    # the excerpt is at 10.5-22.5 s (plus 5 ms): its extent to a peak or two, not to
    # the whole second
    assert np.allclose(best.coherence_span_s, (10.5, 22.5), atol=0.25)
    cm = CatalogueMatch("song", 36.0, best)
    assert match_strength(cm) > 0.9 and masked(cm)
    ev = landmark_evidence(cm, kind=EvidenceKind.REMIX, detector="remix", version="3",
                           explanation="x", details={})  # fmt: skip
    assert ev.raw_unit == "coherence_z" and ev.details["coherence_z"] > 0
    # without the phases (an index of format 4) the check does not run
    cm_old = CatalogueMatch("song", 36.0, dataclasses.replace(best, coherence_z=None))
    assert match_strength(cm_old) < match_strength(cm)


def test_reindex_gives_an_older_catalogue_its_phases(tmp_path):
    from click.testing import CliRunner

    from compliance.app import App
    from compliance.cli import main
    from compliance.settings import Settings
    from fingerprints.audio import write_wav

    env = {"COMPLIANCE_HOME": str(tmp_path / "home")}
    cat = tmp_path / "cat"
    cat.mkdir()
    for k in range(2):
        write_wav(cat / f"work-{k}.wav", synth_piece(60 + k, 12.0, sample_rate=SR), SR)
    run = CliRunner()
    assert run.invoke(main, ["catalogue", "add", "--quiet", str(cat)], env=env).exit_code == 0
    app = App(Settings.from_env(env))
    index_dir = app.settings.index_dir
    (live,) = app.store.list_segments(L.SIGNAL_NAME, L.SIGNAL_VERSION)
    new = Segment.load(index_dir / live.name, mmap=False)
    want = {i: new.track_phases(n) for n, i in enumerate(new.track_ids)}
    # as the catalogue was before index format 5: the same segment without phases
    import shutil

    from compliance.storage import SegmentIn

    new.phases, new.name = None, "seg-old"
    new.save(index_dir)
    app.store.replace_segments(
        [live.name],
        SegmentIn("seg-old", L.SIGNAL_NAME, L.SIGNAL_VERSION, new.track_ids, new.n_postings),
    )
    shutil.rmtree(index_dir / live.name)
    assert app.catalogue().index.track_phases(0) is None

    (cat / "work-1.wav").rename(tmp_path / "moved.wav")  # a source gone: nothing changes
    r = run.invoke(main, ["catalogue", "reindex"], env=env)
    assert r.exit_code == 1 and "0 re-fingerprinted with phases, 1 failed" in r.output
    assert [s.name for s in app.store.list_segments(L.SIGNAL_NAME, L.SIGNAL_VERSION)] == ["seg-old"]
    (tmp_path / "moved.wav").rename(cat / "work-1.wav")
    r = run.invoke(main, ["catalogue", "reindex"], env=env)
    assert r.exit_code == 0 and "2 re-fingerprinted with phases, 0 failed" in r.output
    (rebuilt,) = app.store.list_segments(L.SIGNAL_NAME, L.SIGNAL_VERSION)
    assert rebuilt.name != "seg-old" and not (index_dir / "seg-old").exists()
    index = app.catalogue().index
    for n, track_id in enumerate(index.track_ids):
        np.testing.assert_array_equal(index.track_phases(n), want[track_id])
    again = run.invoke(main, ["catalogue", "reindex"], env=env)
    assert "0 re-fingerprinted with phases, 0 failed" in again.output  # nothing twice
    app.store.close()


def test_a_confident_coherence_check_widens_the_span_of_the_alignment_it_confirms():
    """A 19 s sample under its bed kept 25 anchors over 4.6 s: enough to carry the match,
    too short for the policy's 5 s, while the coherence check found the whole excerpt
    (D00282 of the development corpus, reported as a pass before)."""
    from compliance.detectors.landmark_evidence import span
    from compliance.domain import ReleaseMetadata, Verdict
    from compliance.policy import load_policy
    from compliance.settings import DEFAULT_POLICY
    from fingerprints.align import LandmarkMatch

    lm = LandmarkMatch(
        track=0, inliers=25, query_start_s=18.9, query_end_s=23.5, catalogue_start_s=143.1,
        catalogue_end_s=147.7, speed_ratio=1.0, pitch_shift_semitones=0.0,
        coherence_z=22.5, coherence_span_s=(4.0, 24.0),
    )  # fmt: skip
    cm = CatalogueMatch("song", 240.0, lm)
    q0, q1, c0, c1 = span(cm)
    assert (q0, q1) == (4.0, 24.0)
    assert c0 == pytest.approx(128.2) and c1 == pytest.approx(148.2)
    ev = landmark_evidence(cm, kind=EvidenceKind.REMIX, detector="remix", version="4",
                           explanation="x", details={})  # fmt: skip
    assert ev.raw_unit == "aligned_landmarks" and ev.matched_s == pytest.approx(20.0)
    decision = load_policy(DEFAULT_POLICY).evaluate([ev], ReleaseMetadata())
    assert decision.verdict is Verdict.REVIEW
    assert [r.rule_id for r in decision.rules_fired] == ["remix-review"]
    # the anchors' span alone: a pass (matched 4.6 s < 5 s)
    short = dataclasses.replace(ev, matched_s=lm.matched_s, query_start_s=lm.query_start_s)
    assert load_policy(DEFAULT_POLICY).evaluate([short], ReleaseMetadata()).verdict is Verdict.PASS
    # a coherence score under its midpoint does not widen the alignment
    weak = dataclasses.replace(lm, coherence_z=COHERENCE_MIDPOINT - 3.0)
    assert span(CatalogueMatch("song", 240.0, weak))[:2] == (18.9, 23.5)
    # nor does a presence span the alignment outweighs (presence z 12: strength 0.65)
    pres = dataclasses.replace(lm, coherence_z=None, coherence_span_s=None, presence_z=12.0,
                               presence_span_s=(4.0, 24.0))  # fmt: skip
    assert span(CatalogueMatch("song", 240.0, pres))[:2] == (18.9, 23.5)


def test_a_strong_alignment_at_the_original_speed_gets_the_waveforms_extent(tracks, tmp_path):
    """A sample over its bed aligns with many anchors (no vote cell is checked for it);
    the coherence check still runs at its line and gives the sample's extent."""
    from compliance.detectors.landmark_evidence import span

    song, bed, other = tracks
    fps = {"song": L.fingerprint(song), "other": L.fingerprint(other)}
    index = LandmarkIndex([Segment.build(fps)])
    upload = _sample_under(song, bed, rel_db=6.0, delay=55.5)
    (m,) = [m for m in search(index, upload) if index.track_ids[m.track] == "song"]
    assert m.inliers >= 30 and m.coherence_z is not None and m.coherence_z > COHERENCE_MIDPOINT
    q0, q1, c0, _ = span(CatalogueMatch("song", 40.0, m))
    assert np.allclose((q0, q1), (10.0, 22.0), atol=0.25) and abs(c0 - 12.0) < 0.25
