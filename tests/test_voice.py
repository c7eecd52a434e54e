"""Voice analysis of the audio library: activity, emphasis, windows, calibration."""

from __future__ import annotations

import numpy as np
import pytest

from fingerprints import voice as fvoice
from tests.audio_fixtures import tune, voice

SR = fvoice.SAMPLE_RATE


def _music(seed: int, seconds: float) -> np.ndarray:
    import librosa

    return librosa.resample(tune(seed, seconds), orig_sr=22050, target_sr=SR)


def test_voice_activity_finds_the_talker_between_silences() -> None:
    x = np.zeros(8 * SR, dtype=np.float32)
    x[2 * SR : 5 * SR] = voice(1, 3.0)
    x += 1e-4 * np.random.default_rng(0).standard_normal(x.size).astype(np.float32)
    flags = fvoice.voice_activity(x)
    t = np.flatnonzero(flags) * fvoice.FRAME_S
    assert t.min() == pytest.approx(2.0, abs=0.3)
    assert t.max() == pytest.approx(5.0, abs=0.3)
    assert flags.sum() * fvoice.FRAME_S > 2.0


def test_silence_and_too_little_voice_give_no_embedding() -> None:
    assert not fvoice.analyse(np.zeros(5 * SR, dtype=np.float32)).has_voice
    x = np.zeros(5 * SR, dtype=np.float32)
    x[SR : SR + SR // 2] = voice(2, 0.5)
    a = fvoice.analyse(x)
    assert not a.has_voice and a.voiced_s < fvoice.MIN_VOICED_S
    assert not fvoice.analyse(np.zeros(10, dtype=np.float32)).has_voice


def test_windows_cover_the_voiced_part_in_file_time() -> None:
    x = np.zeros(30 * SR, dtype=np.float32)
    x[10 * SR : 28 * SR] = voice(3, 18.0)
    a = fvoice.analyse(x, emphasis=False)
    assert a.has_voice and len(a.windows) >= 2
    for w in a.windows:
        assert 9.5 <= w.start_s < w.end_s <= 28.5
        assert np.linalg.norm(w.embedding) == pytest.approx(1.0, abs=1e-4)


def test_emphasis_is_chosen_for_music_under_a_voice_not_for_a_dry_voice() -> None:
    dry = voice(4, 10.0)
    mixed = 0.3 * dry + 0.7 * _music(5, 10.0)[: dry.size]
    assert fvoice.analyse(mixed).emphasis
    assert not fvoice.analyse(dry).emphasis
    hiss = 1e-3 * np.random.default_rng(1).standard_normal(dry.size)
    assert not fvoice.needs_emphasis(dry + hiss)


def test_repet_sim_takes_a_repeating_loop_out_and_keeps_the_voice() -> None:
    loop = _music(6, 2.0)
    bed = np.tile(loop, 6)[: 12 * SR]
    v = voice(6, 12.0)
    mix = (v + bed * np.sqrt(np.mean(v**2) / np.mean(bed**2))).astype(np.float32)
    out = fvoice.vocal_emphasis(mix)
    assert out.shape == mix.shape and np.isfinite(out).all()

    def snr_db(est: np.ndarray) -> float:
        return float(10 * np.log10(np.sum(v.astype(np.float64) ** 2) / np.sum((est - v) ** 2)))

    assert snr_db(mix) == pytest.approx(0.0, abs=0.5)
    assert snr_db(out) > snr_db(mix) + 3.0  # the loop is mostly gone, the voice is not


def test_vocal_emphasis_handles_short_and_silent_input() -> None:
    for x in (np.zeros(SR, dtype=np.float32), voice(7, 0.5), np.zeros(3000, dtype=np.float32)):
        out = fvoice.vocal_emphasis(x)
        assert out.shape == x.shape and np.isfinite(out).all()


def test_same_voice_scores_higher_than_another_through_the_analysis() -> None:
    a1 = fvoice.analyse(voice(7, 8.0, f0=105, tract=1.0)).embedding
    a2 = fvoice.analyse(voice(8, 8.0, f0=105, tract=1.0)).embedding
    b = fvoice.analyse(voice(9, 8.0, f0=240, tract=1.2)).embedding
    assert float(a1 @ a2) > float(a1 @ b)


CAL = fvoice.Calibration(prior_mean=0.6, prior_sd=0.1, prior_weight=10, slope=2.0, offset=-4.0,
                         source="test")  # fmt: skip


def test_cohort_stats_shrink_to_the_prior() -> None:
    assert fvoice.cohort_stats(np.zeros(0), CAL) == pytest.approx((0.6, 0.1))
    rng = np.random.default_rng(0)
    s = rng.normal(0.4, 0.05, 5000)
    mu, sd = fvoice.cohort_stats(s, CAL)
    assert mu == pytest.approx(0.4, abs=0.005) and sd == pytest.approx(0.05, abs=0.005)
    mu_few, _ = fvoice.cohort_stats(s[:10], CAL)
    assert 0.4 < mu_few < 0.6  # halfway with as many scores as the prior's weight


def test_calibrated_strength_is_monotonic_and_normalised_per_voice() -> None:
    c = np.linspace(-1, 1, 101)
    s = fvoice.calibrated_strength(c, 0.5, 0.1, CAL)
    assert np.all(np.diff(s) >= 0) and s.min() >= 0 and s.max() <= 1
    # the same distance above each voice's impostor mean gives the same strength
    assert fvoice.calibrated_strength(0.8, 0.5, 0.1, CAL) == pytest.approx(
        fvoice.calibrated_strength(0.9, 0.6, 0.1, CAL)
    )


def test_presence_model_gates_the_windows() -> None:
    from fingerprints import voice_presence

    model = voice_presence.default_model()
    assert model.encoder == "ge2e-v1" and model.analysis == fvoice.VERSION
    x = voice(11, 12.0, f0=120, tract=1.05)
    d = 256  # GE2E embedding size

    def const(bias: float) -> voice_presence.PresenceModel:
        return voice_presence.PresenceModel(np.zeros(d), bias, "ge2e-v1", fvoice.VERSION, "t")

    keep_all = fvoice.analyse(x, presence=const(5.0))
    drop_all = fvoice.analyse(x, presence=const(-5.0))
    ungated = fvoice.analyse(x, presence=False)
    assert keep_all.has_voice and len(keep_all.windows) == len(ungated.windows) >= 2
    np.testing.assert_allclose(keep_all.embedding, ungated.embedding, atol=1e-6)
    assert not drop_all.has_voice and drop_all.windows == ()
    assert drop_all.presence_max == pytest.approx(1 / (1 + np.exp(5.0)))
    # the packaged model on a synthetic talker (the dev-corpus figures are in benchmarks)
    assert fvoice.analyse(x).has_voice


def test_presence_model_file_is_refused_when_malformed(tmp_path) -> None:
    from fingerprints import voice_presence

    bad = tmp_path / "m.json"
    bad.write_text('{"weights": [1, "x"], "bias": 0, "encoder": "e", "analysis": "1"}')
    with pytest.raises((ValueError, TypeError)):
        voice_presence.PresenceModel.load(bad)
