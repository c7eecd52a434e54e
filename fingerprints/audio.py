"""Decoding, resampling and hashing of audio files.

Common formats (WAV, FLAC, OGG/Vorbis, Opus, MP3) are decoded in process by libsndfile,
three times faster than starting a decoder process per file; everything else (AAC/M4A
and other containers) and anything libsndfile refuses goes to the ``ffmpeg`` program in
a subprocess. Limits are explicit: file size is checked before decoding, duration is
read from the header (libsndfile) or capped while decoding (ffmpeg ``-t``), and the
subprocess has a timeout.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fingerprints.errors import AudioError


@dataclass(frozen=True, slots=True)
class AudioClip:
    """Mono audio.

    Attributes
    ----------
    samples : ndarray of float32, shape (n,)
        Samples, full scale about [-1, 1].
    sample_rate : int
        Hz.
    source : str or None
        Where it came from (a path), for messages.
    """

    samples: np.ndarray
    sample_rate: int
    source: str | None = None

    @property
    def duration_s(self) -> float:
        return float(self.samples.shape[0]) / float(self.sample_rate)


PROBE_ABOVE_BYTES = 8 << 20
"""Files larger than this get their duration probed first, so an over-long file is refused
without decoding; smaller files are cheaper to decode than to probe."""


def _ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise AudioError(
            "the ffmpeg program is not installed (scripts/install-system-deps.sh)",
            code="decoder_missing",
        )
    return exe


def _check_file(path: Path, max_bytes: int) -> int:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise AudioError(f"no such file: {path}", code="audio_not_found") from None
    except OSError as exc:
        raise AudioError(f"cannot read {path}: {exc.strerror}", code="audio_unreadable") from None
    if path.is_dir():
        raise AudioError(f"{path} is a folder, not a file", code="audio_unreadable")
    if not os.access(path, os.R_OK):
        raise AudioError(f"no permission to read {path}", code="audio_unreadable")
    if st.st_size == 0:
        raise AudioError(f"{path} is empty (0 bytes)", code="audio_empty")
    if st.st_size > max_bytes:
        raise AudioError(
            f"{path} is {st.st_size} bytes, over the limit of {max_bytes}",
            code="audio_too_large",
        )
    return st.st_size


def probe_duration(path: str | os.PathLike, *, timeout_s: float = 30.0) -> float | None:
    """Container duration in seconds from ``ffprobe``, or None when unknown."""
    exe = shutil.which("ffprobe")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
             str(path)],
            capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        return float(out.stdout.strip().splitlines()[0])
    except (subprocess.TimeoutExpired, ValueError, IndexError, OSError):
        return None


def decode(
    path: str | os.PathLike,
    *,
    sample_rate: int = 11025,
    max_duration_s: float = 1800.0,
    max_bytes: int = 1_000_000_000,
    start_s: float = 0.0,
    duration_s: float | None = None,
    timeout_s: float = 300.0,
) -> AudioClip:
    """Decode the first audio stream of a file to mono float32.

    WAV, FLAC, OGG/Vorbis, Opus and MP3 are read in process by libsndfile (through
    ``soundfile``) and resampled by soxr; everything else (AAC/M4A, other containers,
    and any file libsndfile refuses or fails on mid-way) goes to the ``ffmpeg`` program
    in a subprocess.

    Parameters
    ----------
    path : path-like
    sample_rate : int
        Output rate, Hz.
    max_duration_s : float
        Longer audio is refused (``audio_too_long``) without decoding all of it.
    max_bytes : int
        Larger files are refused before decoding (``audio_too_large``).
    start_s, duration_s : float
        Decode only this part, seconds.
    timeout_s : float
        Wall-clock limit of the ffmpeg process (``audio_timeout``).

    Returns
    -------
    AudioClip
        ``samples`` of shape (n,), float32, at ``sample_rate`` Hz. A truncated file
        decodes to the audio it holds; a file with no decodable audio raises
        ``audio_decode_failed``.
    """
    p = Path(path)
    size = _check_file(p, max_bytes)
    got = _decode_libsndfile(
        p, start_s=start_s, duration_s=duration_s, max_duration_s=max_duration_s
    )
    if got is not None:
        samples, native = got
        if native != sample_rate and samples.size:
            import soxr

            samples = soxr.resample(samples, native, sample_rate, quality="HQ")
        samples = np.asarray(samples, dtype=np.float32)
    else:
        samples = _decode_ffmpeg(
            p, size, sample_rate=sample_rate, max_duration_s=max_duration_s,
            start_s=start_s, duration_s=duration_s, timeout_s=timeout_s,
        )  # fmt: skip
    if samples.size == 0:
        raise AudioError(f"{p}: the file holds no audio samples", code="audio_decode_failed")
    samples = np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
    if duration_s is None and samples.size > max_duration_s * sample_rate + sample_rate // 2:
        raise AudioError(
            f"{p} lasts more than the limit of {max_duration_s:.0f} s", code="audio_too_long"
        )
    return AudioClip(samples, int(sample_rate), str(p))


def _too_long(p: Path, seconds: float, limit: float) -> AudioError:
    return AudioError(
        f"{p} lasts {seconds:.0f} s, over the limit of {limit:.0f} s", code="audio_too_long"
    )


_SNDFILE_MAGIC = (b"RIFF", b"RF64", b"fLaC", b"OggS", b"ID3", b"FORM")


def _looks_like_sndfile_format(p: Path) -> bool:
    """Whether the file starts like a container libsndfile reads (WAV, FLAC, OGG, AIFF,
    MP3 with an ID3 tag or a frame sync). Anything else goes straight to ffmpeg, which
    keeps libsndfile's decoders away from arbitrary bytes (and their console notes)."""
    try:
        with open(p, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return False
    return head.startswith(_SNDFILE_MAGIC) or (
        len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0
    )


def _decode_libsndfile(
    p: Path, *, start_s: float, duration_s: float | None, max_duration_s: float
) -> tuple[np.ndarray, int] | None:
    """Mono float32 at the file's own rate, or None to let ffmpeg try."""
    import soundfile as sf

    if not _looks_like_sndfile_format(p):
        return None
    try:
        info = sf.info(str(p))
        if info.samplerate <= 0 or info.frames <= 0:
            return None
        if duration_s is None and info.frames / info.samplerate - start_s > max_duration_s + 1:
            raise _too_long(p, info.frames / info.samplerate, max_duration_s)
        start = round(start_s * info.samplerate)
        stop = None if duration_s is None else start + round(duration_s * info.samplerate)
        data, sr = sf.read(str(p), start=start, stop=stop, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except Exception:  # libsndfile cannot read it, or fails mid-way: ffmpeg decides
        return None
    return data.mean(axis=1, dtype=np.float32), int(sr)


def _decode_ffmpeg(
    p: Path,
    size: int,
    *,
    sample_rate: int,
    max_duration_s: float,
    start_s: float,
    duration_s: float | None,
    timeout_s: float,
) -> np.ndarray:
    if duration_s is None and size > PROBE_ABOVE_BYTES:
        known = probe_duration(p)
        if known is not None and known - start_s > max_duration_s + 1.0:
            raise _too_long(p, known, max_duration_s)
    limit = duration_s if duration_s is not None else max_duration_s + 1.0
    cmd = [_ffmpeg(), "-nostdin", "-v", "error", "-ss", f"{start_s:.3f}", "-i", str(p),
           "-map", "0:a:0", "-t", f"{limit:.3f}", "-ac", "1", "-ar", str(int(sample_rate)),
           "-f", "f32le", "-"]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise AudioError(
            f"decoding {p} took longer than {timeout_s:.0f} s", code="audio_timeout"
        ) from None
    samples = np.frombuffer(proc.stdout[: len(proc.stdout) // 4 * 4], dtype="<f4")
    if samples.size == 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        why = lines[-1] if lines else f"ffmpeg exit code {proc.returncode}"
        raise AudioError(f"{p}: no audio could be decoded ({why})", code="audio_decode_failed")
    return samples.astype(np.float32)


def resample(clip: AudioClip, sample_rate: int) -> AudioClip:
    """Resample (soxr, high quality) to ``sample_rate`` Hz; duration is kept."""
    if clip.sample_rate == sample_rate:
        return clip
    import soxr

    y = soxr.resample(clip.samples, clip.sample_rate, sample_rate, quality="HQ")
    return AudioClip(np.asarray(y, dtype=np.float32), int(sample_rate), clip.source)


def content_hash(path: str | os.PathLike) -> str:
    """``"sha256:" + hex`` of the file's bytes (streamed in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def write_wav(path: str | os.PathLike, samples: np.ndarray, sample_rate: int) -> None:
    """Write mono 16-bit PCM WAV (samples clipped to [-1, 1])."""
    pcm = (np.clip(np.asarray(samples, dtype=np.float64), -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(pcm.tobytes())


_CODECS = {
    "mp3": ["-c:a", "libmp3lame"],
    "ogg": ["-c:a", "libvorbis"],
    "opus": ["-c:a", "libopus"],
    "aac": ["-c:a", "aac"],
    "m4a": ["-c:a", "aac"],
    "flac": ["-c:a", "flac"],
}


def encode(
    samples: np.ndarray,
    sample_rate: int,
    out_path: str | os.PathLike,
    *,
    codec: str = "mp3",
    bitrate: str = "64k",
) -> None:
    """Encode mono float samples with ffmpeg (demo and test material).

    Parameters
    ----------
    samples : ndarray, shape (n,)
    sample_rate : int
        Hz of ``samples``.
    codec : {"mp3", "ogg", "opus", "aac", "m4a", "flac"}
    bitrate : str
        ffmpeg bitrate (ignored for FLAC; Vorbis uses quality 4, about 128 kbps).
    """
    if codec not in _CODECS:
        raise ValueError(f"unknown codec {codec!r}; one of {sorted(_CODECS)}")
    pcm = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0).astype("<f4").tobytes()
    cmd = [_ffmpeg(), "-nostdin", "-v", "error", "-y", "-f", "f32le", "-ar", str(sample_rate),
           "-ac", "1", "-i", "-", *_CODECS[codec]]  # fmt: skip
    if codec == "ogg":
        cmd += ["-q:a", "4"]  # libvorbis refuses many bitrate/rate pairs; quality mode always works
    elif codec != "flac":
        cmd += ["-b:a", bitrate]
    if codec == "opus":
        cmd += ["-ar", "48000"]
    cmd.append(str(out_path))
    proc = subprocess.run(cmd, input=pcm, capture_output=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {proc.stderr.decode('utf-8', 'replace')[-300:]}")
