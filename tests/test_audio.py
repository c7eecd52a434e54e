"""fingerprints.audio: decoding through ffmpeg (formats, downmix, crops, limits, error
codes, no leftover processes), resampling, hashing and writing."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from fingerprints import audio
from fingerprints.audio import AudioClip, content_hash, decode, encode, resample, write_wav
from fingerprints.errors import AudioError, FingerprintError
from tests.audio_fixtures import SR, best_lag_correlation, tune

SECONDS = 8.0
FORMATS = ["wav", "flac", "mp3", "ogg", "opus", "m4a"]
LOSSLESS = {"wav", "flac"}


@pytest.fixture(scope="module")
def piece() -> np.ndarray:
    return tune(5, SECONDS)


@pytest.fixture(scope="module")
def files(piece, tmp_path_factory) -> dict[str, Path]:
    """The piece in every format (96 kbit/s for the lossy ones)."""
    d = tmp_path_factory.mktemp("formats")
    out = {}
    for codec in FORMATS:
        out[codec] = d / f"piece.{codec}"
        encode(piece, SR, out[codec], codec=codec, bitrate="96k")
    return out


@pytest.fixture(scope="module")
def reference(piece) -> np.ndarray:
    """The piece at 11025 Hz, what decode(sample_rate=11025) should give."""
    return resample(AudioClip(piece, SR), 11025).samples


def _children() -> set[int]:
    """Pids of this process's children, zombies included (Linux)."""
    pids: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        text = (task / "children").read_text().split()
        pids.update(int(p) for p in text)
    return pids


needs_proc_children = pytest.mark.skipif(
    not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists(),
    reason="needs Linux /proc/<pid>/task/<tid>/children",
)


# ---------------------------------------------------------------- formats and content


@pytest.mark.parametrize("codec", FORMATS)
def test_every_format_decodes_to_the_right_rate_length_and_content(files, reference, codec):
    clip = decode(files[codec], sample_rate=11025)
    assert clip.sample_rate == 11025
    assert clip.samples.dtype == np.float32 and clip.samples.ndim == 1
    assert clip.source == str(files[codec])
    # AAC keeps some encoder padding at the end (tens of ms); the others are exact
    assert SECONDS - 0.01 <= clip.duration_s <= SECONDS + 0.05
    corr, lag = best_lag_correlation(reference, clip.samples, max_lag=40)
    assert lag == 0  # decoders remove the encoder delay (LAME header, Opus pre-skip, ...)
    assert corr > (0.9999 if codec in LOSSLESS else 0.99)


@pytest.mark.parametrize("codec", ["wav", "flac", "mp3", "ogg"])
def test_soundfile_backend_agrees_with_ffmpeg(files, codec):
    a = decode(files[codec], sample_rate=11025)
    b = decode(files[codec], sample_rate=11025, backend="soundfile")
    assert b.samples.dtype == np.float32 and b.sample_rate == 11025
    assert a.samples.size == b.samples.size
    assert np.corrcoef(a.samples, b.samples)[0, 1] > 0.999


def test_native_rate_wav_roundtrips_sample_by_sample(tmp_path, piece):
    path = tmp_path / "x.wav"
    write_wav(path, piece, SR)
    clip = decode(path, sample_rate=SR)
    assert clip.samples.size == piece.size
    # 16-bit rounding; written as x * 32767, read as n / 32768
    assert np.max(np.abs(clip.samples - piece)) <= 2.0 / 32767


def test_stereo_is_averaged_not_summed(tmp_path, piece):
    other = tune(6, SECONDS)
    path = tmp_path / "stereo.flac"
    encode(np.stack([piece, other], axis=1), SR, path, codec="flac")
    clip = decode(path, sample_rate=SR)
    assert np.max(np.abs(clip.samples - (piece + other) / 2)) < 1e-3
    # identical channels come out at their own level (ffmpeg's plain -ac 1 adds 3 dB)
    same = tmp_path / "same.wav"
    write_wav(same, np.stack([piece, piece], axis=1), SR)
    for backend in ("ffmpeg", "soundfile"):
        y = decode(same, sample_rate=SR, backend=backend).samples
        assert np.max(np.abs(y - piece)) < 1e-3


def _locate(x: np.ndarray, full: np.ndarray, at: int, max_lag: int) -> tuple[int, float]:
    """Lag (samples) and correlation where ``x`` best matches ``full`` near ``at``."""
    k = x.size
    scores = [
        (float(np.corrcoef(x, full[at + lag : at + lag + k])[0, 1]), lag)
        for lag in range(-max_lag, max_lag + 1)
        if at + lag >= 0 and at + lag + k <= full.size
    ]
    corr, lag = max(scores)
    return lag, corr


@pytest.mark.parametrize("codec", FORMATS)
def test_start_and_duration_crop_the_full_decode(files, codec):
    full = decode(files[codec], sample_rate=11025).samples
    for start in (2.0, 6.0):
        clip = decode(files[codec], sample_rate=11025, start_s=start, duration_s=1.5)
        assert clip.samples.size == round(1.5 * 11025)  # exact length
        at = round(start * 11025)
        if codec in ("ogg", "m4a"):
            # Vorbis seeks follow packet timestamps (a few ms off); AAC decodes its
            # first frames after a seek slightly differently
            lag, corr = _locate(clip.samples, full, at, max_lag=110)
            assert abs(lag) <= 110 and corr > 0.999
        else:  # sample-exact: same samples as the full decode
            np.testing.assert_allclose(clip.samples, full[at : at + clip.samples.size], atol=1e-5)
    tail = decode(files[codec], sample_rate=11025, start_s=7.0)
    assert abs(tail.duration_s - (full.size / 11025 - 7.0)) < 0.011


def test_crop_past_the_end_is_a_decode_failure(files):
    with pytest.raises(AudioError) as err:
        decode(files["wav"], start_s=60.0)
    assert err.value.code == "audio_decode_failed"
    assert "after 60 s" in err.value.message


def test_hostile_float_wav_decodes_to_finite_samples(tmp_path):
    import soundfile as sf

    bad = np.full(SR, np.nan, np.float32)
    bad[::3] = np.inf
    bad[1::3] = 0.5
    sf.write(tmp_path / "nan.wav", bad, SR, subtype="FLOAT")
    for backend in ("ffmpeg", "soundfile"):
        clip = decode(tmp_path / "nan.wav", sample_rate=SR, backend=backend)
        assert np.all(np.isfinite(clip.samples))


# ---------------------------------------------------------------- errors


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


BAD_INPUTS = [
    ("missing", lambda d: d / "missing.wav", "audio_not_found", {}),
    ("under a file", lambda d: _write(d / "f.wav", b"x") / "inner.wav", "audio_not_found", {}),
    ("directory", lambda d: d, "audio_unreadable", {}),
    ("zero bytes", lambda d: _write(d / "e.wav", b""), "audio_empty", {}),
    ("text as mp3", lambda d: _write(d / "t.mp3", b"this is not audio\n" * 50),
     "audio_decode_failed", {}),
    ("over max_bytes", lambda d: _write(d / "big.wav", b"x" * 5000), "audio_too_large",
     {"max_bytes": 4999}),
]  # fmt: skip


@pytest.mark.parametrize("backend", ["ffmpeg", "soundfile"])
@pytest.mark.parametrize(("make", "code", "kwargs"), [b[1:] for b in BAD_INPUTS],
                         ids=[b[0] for b in BAD_INPUTS])  # fmt: skip
def test_bad_inputs_raise_their_codes(tmp_path, make, code, kwargs, backend):
    with pytest.raises(AudioError) as err:
        decode(make(tmp_path), backend=backend, **kwargs)
    assert err.value.code == code
    assert str(err.value).startswith(f"[{code}] ")
    assert isinstance(err.value, FingerprintError)


def test_decode_failure_quotes_ffmpeg(tmp_path):
    path = _write(tmp_path / "t.mp3", b"this is not audio\n" * 50)
    with pytest.raises(AudioError) as err:
        decode(path)
    # ffmpeg's own last lines, without object addresses
    msg = err.value.message
    assert "no audio could be decoded (" in msg and msg.endswith(")") and " @ 0x" not in msg


def test_unreadable_file(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root can read files without permission")
    path = _write(tmp_path / "secret.wav", b"RIFF")
    path.chmod(0)
    with pytest.raises(AudioError) as err:
        decode(path)
    assert err.value.code == "audio_unreadable"


def test_playlists_are_not_followed(tmp_path, files):
    """An HLS playlist named .mp3 could make ffmpeg read other files or URLs."""
    playlist = (
        f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile://{files['wav']}\n#EXT-X-ENDLIST\n"
    )
    path = _write(tmp_path / "playlist.mp3", playlist.encode())
    with pytest.raises(AudioError) as err:
        decode(path)
    assert err.value.code == "audio_decode_failed"
    concat = _write(
        tmp_path / "list.mp3", f"ffconcat version 1.0\nfile '{files['wav']}'\n".encode()
    )
    with pytest.raises(AudioError):
        decode(concat)


def test_a_file_name_is_never_an_ffmpeg_protocol_or_option(tmp_path, files):
    for name in ("concat:x.wav", "-y.wav"):
        path = tmp_path / name
        path.write_bytes(files["wav"].read_bytes())
        assert abs(decode(path).duration_s - SECONDS) < 1e-3


@pytest.mark.parametrize("backend", ["ffmpeg", "soundfile"])
def test_too_long(tmp_path, backend):
    path = tmp_path / "long.wav"
    write_wav(path, tune(7, 12.0, sample_rate=11025), 11025)
    with pytest.raises(AudioError) as err:
        decode(path, max_duration_s=10.0, backend=backend)
    assert err.value.code == "audio_too_long"
    assert abs(decode(path, max_duration_s=12.0, backend=backend).duration_s - 12.0) < 1e-3
    # a part within the limit can be read from a longer file
    part = decode(path, max_duration_s=10.0, start_s=4.0, duration_s=5.0, backend=backend)
    assert abs(part.duration_s - 5.0) < 1e-3
    with pytest.raises(AudioError) as err:
        decode(path, max_duration_s=10.0, duration_s=11.0, backend=backend)
    assert err.value.code == "audio_too_long"


def test_too_long_is_capped_while_decoding(tmp_path, monkeypatch):
    """ffmpeg is asked for max_duration_s + 1 seconds, never the whole file."""
    path = tmp_path / "long.wav"
    write_wav(path, np.full(30 * 11025, 0.1, np.float32), 11025)
    seen = {}

    class Spy(subprocess.Popen):
        def communicate(self, *a, **kw):
            out, err = super().communicate(*a, **kw)
            cmd = list(self.args)
            if "-t" in cmd and out is not None:
                seen["t"] = float(cmd[cmd.index("-t") + 1])
                seen["bytes"] = len(out)
            return out, err

    monkeypatch.setattr(audio.subprocess, "Popen", Spy)
    with pytest.raises(AudioError) as err:
        decode(path, max_duration_s=10.0)
    assert err.value.code == "audio_too_long"
    assert seen["t"] == pytest.approx(11.0)
    assert seen["bytes"] == 11 * 11025 * 4


def test_large_files_are_refused_from_the_probed_duration(tmp_path, monkeypatch):
    path = tmp_path / "long.wav"
    write_wav(path, np.full(12 * 11025, 0.1, np.float32), 11025)
    monkeypatch.setattr(audio, "PROBE_ABOVE_BYTES", 0)
    calls = []
    real_run = subprocess.run
    monkeypatch.setattr(
        audio.subprocess, "run", lambda cmd, **kw: calls.append(cmd[0]) or real_run(cmd, **kw)
    )
    with pytest.raises(AudioError) as err:
        decode(path, max_duration_s=10.0)
    assert err.value.code == "audio_too_long"
    assert "lasts 12.0 s" in err.value.message
    assert [Path(c).name for c in calls] == ["ffprobe"]  # ffmpeg never ran


def test_probe_duration(files, tmp_path):
    assert audio.probe_duration(files["wav"]) == pytest.approx(SECONDS, abs=1e-3)
    assert audio.probe_duration(files["mp3"]) == pytest.approx(SECONDS, abs=0.1)
    assert audio.probe_duration(_write(tmp_path / "t.txt", b"hello")) is None
    assert audio.probe_duration(tmp_path / "missing.wav") is None


def test_probe_sample_rate_in_process_or_by_ffprobe_only(files, tmp_path, monkeypatch):
    rates = {audio.probe_sample_rate(files["wav"], backend=b) for b in ("soundfile", "ffmpeg")}
    assert rates == {SR}
    assert audio.probe_sample_rate(files["opus"]) == 48000  # Opus streams are 48 kHz
    assert audio.probe_sample_rate(_write(tmp_path / "t.txt", b"hello")) is None
    import soundfile

    def refuse(*a, **k):
        raise AssertionError("untrusted input parsed in process")

    monkeypatch.setattr(soundfile, "info", refuse)
    assert audio.probe_sample_rate(files["flac"], backend="ffmpeg") == SR


@needs_proc_children
def test_timeout_kills_and_reaps_ffmpeg(files):
    before = _children()
    with pytest.raises(AudioError) as err:
        decode(files["opus"], timeout_s=1e-4)
    assert err.value.code == "audio_timeout"
    assert _children() == before


@needs_proc_children
def test_no_processes_are_left_behind(files, tmp_path):
    before = _children()
    decode(files["mp3"])
    with pytest.raises(AudioError):
        decode(_write(tmp_path / "t.mp3", b"not audio"))
    assert _children() == before


def test_truncated_mp3_decodes_the_audio_it_holds(tmp_path, files, reference):
    """Decided behaviour: a cut file gives what can be decoded, not an error."""
    data = files["mp3"].read_bytes()
    cut = _write(tmp_path / "cut.mp3", data[: len(data) // 2])
    clip = decode(cut, sample_rate=11025)
    assert SECONDS / 2 - 0.5 < clip.duration_s < SECONDS / 2 + 0.5
    corr, lag = best_lag_correlation(reference[: clip.samples.size], clip.samples, max_lag=20)
    assert lag == 0 and corr > 0.99
    # a few bytes, not even one frame: nothing to decode
    stub = _write(tmp_path / "stub.mp3", data[:200])
    with pytest.raises(AudioError) as err:
        decode(stub)
    assert err.value.code == "audio_decode_failed"


def test_bad_arguments_are_value_errors(files):
    for kwargs in (
        {"sample_rate": 0},
        {"max_duration_s": 0},
        {"start_s": -1.0},
        {"duration_s": 0.0},
        {"backend": "pyav"},
    ):
        with pytest.raises(ValueError):
            decode(files["wav"], **kwargs)


# ---------------------------------------------------------------- resample, hash, write


def test_resample_keeps_duration_and_pitch():
    t = np.arange(2 * SR) / SR
    clip = AudioClip(np.sin(2 * np.pi * 440.0 * t).astype(np.float32), SR, "s")
    for rate in (8000, 11025, 16000, 44100):
        out = resample(clip, rate)
        assert out.sample_rate == rate and out.source == "s"
        assert out.samples.dtype == np.float32
        assert abs(out.duration_s - clip.duration_s) <= 1.0 / rate
        spectrum = np.abs(np.fft.rfft(out.samples * np.hanning(out.samples.size)))
        assert abs(np.argmax(spectrum) * rate / out.samples.size - 440.0) < 1.0
    assert resample(clip, SR) is clip
    assert resample(AudioClip(np.zeros(0, np.float32), SR), 8000).samples.size == 0


def test_content_hash(tmp_path):
    data = np.random.default_rng(0).bytes((3 << 20) + 17)  # several 1 MiB chunks
    a = _write(tmp_path / "a.bin", data)
    b = _write(tmp_path / "b.bin", data)
    c = _write(tmp_path / "c.bin", data[:-1] + bytes([data[-1] ^ 1]))
    assert content_hash(a) == content_hash(b) == "sha256:" + hashlib.sha256(data).hexdigest()
    assert content_hash(a) != content_hash(c)
    assert len(content_hash(a)) == len("sha256:") + 64
    assert content_hash(str(a)) == content_hash(a)


def test_write_wav_clips_and_writes_16_bit(tmp_path):
    path = tmp_path / "w.wav"
    write_wav(path, np.array([0.0, 0.5, 1.5, -2.0, -1.0], np.float32), 8000)
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        pcm = np.frombuffer(w.readframes(10), "<i2")
    assert pcm.tolist() == [0, 16384, 32767, -32767, -32767]
    write_wav(path, np.zeros((100, 2), np.float32), 8000)
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getnframes()) == (2, 100)


def test_encode_rejects_unknown_codecs(tmp_path, piece):
    with pytest.raises(ValueError):
        encode(piece, SR, tmp_path / "x.xyz", codec="xyz")


def test_garbage_is_not_fed_to_the_in_process_decoder(tmp_path, capfd):
    path = tmp_path / "junk.mp3"
    path.write_bytes(b"garbage that is not audio" * 10)
    with pytest.raises(AudioError) as err:
        decode(path, backend="soundfile")
    assert err.value.code == "audio_decode_failed"
    assert "Illegal Audio-MPEG-Header" not in capfd.readouterr().err


@pytest.mark.parametrize("channels", [1, 2, 3])
@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_soundfile_downmix_is_the_float32_channel_mean(tmp_path, channels, subtype):
    """The written-out mono and stereo downmix equals ``mean(axis=1, dtype=float32)``
    sample for sample (then the same resampling)."""
    import soundfile as sf
    import soxr

    rng = np.random.default_rng(11)
    x = np.clip(0.4 * rng.standard_normal((2 * 44100, channels)), -1, 1)
    x[:50] = 1.0
    x[50:100] = -1.0
    x[100:150, 0] = 1e-38  # subnormal sums in FLOAT
    path = tmp_path / f"d{channels}.wav"
    sf.write(path, x, 44100, subtype=subtype)
    got = decode(path, sample_rate=SR, backend="soundfile").samples
    ref, _ = sf.read(str(path), dtype="float32", always_2d=True)
    ref = soxr.resample(ref.mean(axis=1, dtype=np.float32), 44100, SR, quality="HQ")
    assert got.dtype == np.float32 and np.array_equal(got, ref)
    native = decode(path, sample_rate=44100, backend="soundfile").samples
    full, _ = sf.read(str(path), dtype="float32", always_2d=True)
    assert np.array_equal(native, full.mean(axis=1, dtype=np.float32))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prlimit is Linux only")
def test_decoder_children_get_memory_and_cpu_limits():
    child = subprocess.Popen(["sleep", "5"])
    try:
        audio._limit_child(child.pid, cpu_s=7.2)
        limits = Path(f"/proc/{child.pid}/limits").read_text()
    finally:
        child.kill()
        child.wait()
    address = next(line for line in limits.splitlines() if line.startswith("Max address space"))
    cpu = next(line for line in limits.splitlines() if line.startswith("Max cpu time"))
    assert str(audio.DECODER_MEMORY_BYTES) in address
    assert cpu.split()[3] == "9"  # ceil(7.2) + 1 s
