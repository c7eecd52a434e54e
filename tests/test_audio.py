"""Decoding through ffmpeg (formats, limits, error codes) and Chromaprint comparison."""

from __future__ import annotations

import numpy as np
import pytest

from compliance.synth import synth_piece
from fingerprints import chromaprint
from fingerprints.audio import AudioClip, content_hash, decode, encode, resample, write_wav
from fingerprints.errors import AudioError

SR = 22050


@pytest.fixture(scope="module")
def piece():
    return synth_piece(5, 8.0, sample_rate=SR)


@pytest.mark.parametrize("codec", ["mp3", "ogg", "opus", "m4a", "flac"])
def test_formats_decode_to_the_right_length_and_content(tmp_path, piece, codec):
    path = tmp_path / f"x.{codec}"
    encode(piece, SR, path, codec=codec, bitrate="96k")
    clip = decode(path, sample_rate=11025)
    assert clip.sample_rate == 11025 and clip.samples.dtype == np.float32
    assert abs(clip.duration_s - 8.0) < 0.12
    ref = resample(AudioClip(piece, SR), 11025).samples
    n = min(ref.size, clip.samples.size)
    # lossy codecs add delay: compare envelopes, lossless must match sample by sample
    if codec == "flac":
        assert np.corrcoef(ref[:n], clip.samples[:n])[0, 1] > 0.99
    else:
        env = [
            np.convolve(np.abs(x[:n]), np.ones(1000) / 1000, "valid") for x in (ref, clip.samples)
        ]
        assert np.corrcoef(*env)[0, 1] > 0.8


def test_wav_roundtrip_and_stereo_downmix(tmp_path, piece):
    path = tmp_path / "x.wav"
    write_wav(path, piece, SR)
    clip = decode(path, sample_rate=SR)
    assert np.max(np.abs(clip.samples - piece[: clip.samples.size])) < 1e-3
    import subprocess

    stereo = tmp_path / "st.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-ac", "2", str(stereo)], check=True)
    assert abs(decode(stereo, sample_rate=SR).duration_s - 8.0) < 0.01


def test_crop_and_offset(tmp_path, piece):
    path = tmp_path / "x.wav"
    write_wav(path, piece, SR)
    clip = decode(path, sample_rate=SR, start_s=2.0, duration_s=3.0)
    assert abs(clip.duration_s - 3.0) < 0.01
    assert np.corrcoef(clip.samples, piece[2 * SR : 5 * SR][: clip.samples.size])[0, 1] > 0.99


def _file(d, name, data):
    path = d / name
    path.write_bytes(data)
    return path


BAD_INPUTS = [
    (lambda d: d / "missing.wav", "audio_not_found", {}),
    (lambda d: d, "audio_unreadable", {}),
    (lambda d: _file(d, "e.wav", b""), "audio_empty", {}),
    (lambda d: _file(d, "t.mp3", b"not audio at all"), "audio_decode_failed", {}),
    (lambda d: _file(d, "big.bin", b"x" * 5000), "audio_too_large", {"max_bytes": 4000}),
]


@pytest.mark.parametrize(("make", "code", "kwargs"), BAD_INPUTS)
def test_error_codes(tmp_path, make, code, kwargs):
    with pytest.raises(AudioError) as err:
        decode(make(tmp_path), **kwargs)
    assert err.value.code == code
    assert str(err.value).startswith(f"[{code}]")


def test_too_long(tmp_path):
    path = tmp_path / "long.wav"
    write_wav(path, np.zeros(12 * SR, np.float32) + 0.1, SR)
    with pytest.raises(AudioError) as err:
        decode(path, max_duration_s=10.0)
    assert err.value.code == "audio_too_long"
    assert decode(path, max_duration_s=13.0).duration_s > 11.9


def test_truncated_mp3_decodes_what_it_holds(tmp_path, piece):
    path = tmp_path / "x.mp3"
    encode(piece, SR, path)
    data = path.read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(data[: len(data) // 2])
    clip = decode(cut)
    assert 2.0 < clip.duration_s < 6.0


def test_content_hash_is_stable_and_content_based(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"abc")
    b.write_bytes(b"abc")
    assert content_hash(a) == content_hash(b)
    assert content_hash(a).startswith("sha256:") and len(content_hash(a)) == 71


def _slow_best(a, b, max_off, min_ov):
    best = None
    for off in range(-max_off, max_off + 1):
        pairs = [(a[i + off], b[i]) for i in range(len(b)) if 0 <= i + off < len(a)]
        if len(pairs) < min_ov:
            continue
        ber = sum(bin(int(x) ^ int(y)).count("1") for x, y in pairs) / (32 * len(pairs))
        if best is None or ber < best[0]:
            best = (ber, off, len(pairs))
    return best


def test_chromaprint_compare_matches_a_brute_force_reference():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 2**32, size=60, dtype=np.uint64).astype(np.uint32)
    b = a[13:50].copy()
    b[::5] ^= np.uint32(0xFF)
    m = chromaprint.compare(
        a, b, max_offset_s=20 * chromaprint.ITEM_S, min_overlap_s=chromaprint.ITEM_S * 5
    )
    ber, off, n = _slow_best(a, b, 20, 5)
    assert (
        abs(m.bit_error_rate - ber) < 1e-12 and round(m.offset_s / chromaprint.ITEM_S) == off == 13
    )
    assert round(m.overlap_s / chromaprint.ITEM_S) == n


def test_chromaprint_same_transcoded_and_unrelated(tmp_path):
    y = synth_piece(11, 20.0, sample_rate=SR)
    a = chromaprint.fingerprint(AudioClip(y, SR))
    encode(y, SR, tmp_path / "y.mp3", bitrate="64k")
    b = chromaprint.fingerprint(decode(tmp_path / "y.mp3"))
    z = chromaprint.fingerprint(AudioClip(synth_piece(12, 20.0, sample_rate=SR), SR))
    assert chromaprint.compare(a, a).score == 1.0
    assert chromaprint.compare(a, b).score > 0.85
    assert chromaprint.compare(a, z).score < 0.7


def test_hostile_wavs_give_codes_or_clean_audio(tmp_path):
    import soundfile as sf

    bad = np.full(SR, np.nan, np.float32)
    bad[::3] = np.inf
    sf.write(tmp_path / "nan.wav", bad, SR, subtype="FLOAT")
    clip = decode(tmp_path / "nan.wav")
    assert np.all(np.isfinite(clip.samples))
    # a header that claims far more data than the file holds
    good = tmp_path / "g.wav"
    write_wav(good, np.zeros(SR, np.float32), SR)
    data = bytearray(good.read_bytes())
    data[40:44] = (2**31).to_bytes(4, "little")  # data chunk size: 2 GiB
    liar = tmp_path / "liar.wav"
    liar.write_bytes(bytes(data))
    try:
        clip = decode(liar, max_duration_s=60)
        assert clip.duration_s <= 60.5
    except AudioError as err:
        assert err.code in {"audio_too_long", "audio_decode_failed"}


def test_garbage_is_not_fed_to_the_in_process_decoder(tmp_path, capfd):
    path = tmp_path / "junk.mp3"
    path.write_bytes(b"garbage that is not audio" * 10)
    with pytest.raises(AudioError) as err:
        decode(path)
    assert err.value.code == "audio_decode_failed"
    assert "Illegal Audio-MPEG-Header" not in capfd.readouterr().err
