"""Decoding, resampling, hashing and writing of audio files.

Decoding runs the ``ffmpeg`` program in a subprocess: one decoder for every format
(WAV, FLAC, MP3, OGG/Vorbis, Opus, AAC/M4A and more), and a hostile or broken upload can
crash, hang or exhaust only a child process that is killed at a deadline, never the
service. The child is restricted to local files (``-protocol_whitelist file``) and to
the audio demuxers in :data:`DEMUXERS` (no playlists: HLS or concat files could make
ffmpeg fetch URLs or read other local files).

Limits are explicit and checked as early as possible: file size before anything runs,
duration from ``ffprobe`` for large files, and, authoritatively, by asking ffmpeg for at
most ``max_duration_s + 1`` seconds (``-t``) and refusing the file if more than
``max_duration_s`` came out, so an hour-long file never costs an hour of decoding.

``decode(..., backend="soundfile")`` reads the common formats in process with
libsndfile instead (about 3-4 times faster for short files, since no process starts),
falling back to ffmpeg for what libsndfile cannot read; meant for trusted material
such as a distributor's own catalogue, not for uploads.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fingerprints.errors import AudioError

__all__ = [
    "DEMUXERS",
    "AudioClip",
    "content_hash",
    "decode",
    "encode",
    "probe_duration",
    "probe_sample_rate",
    "resample",
    "write_wav",
]


@dataclass(frozen=True, slots=True)
class AudioClip:
    """Mono audio in memory.

    Attributes
    ----------
    samples : ndarray of float32, shape (n,)
        Samples, full scale about [-1, 1].
    sample_rate : int
        Samples per second, Hz.
    source : str or None
        Where it came from (a path), for messages.
    """

    samples: np.ndarray
    sample_rate: int
    source: str | None = None

    @property
    def duration_s(self) -> float:
        """Length in seconds (``n / sample_rate``)."""
        return float(self.samples.shape[0]) / float(self.sample_rate)


DEMUXERS = (
    "wav,w64,flac,mp3,ogg,mov,aac,matroska,aiff,asf,caf,wv,ape,tta,ac3,eac3,dts,"
    "truehd,amr,au,dsf,mpc,mpc8,tak,mp2"
)
"""ffmpeg input formats (demuxers) that ``decode`` accepts; ``mov`` is MP4/M4A/3GP,
``ogg`` carries Vorbis, Opus and FLAC, ``matroska`` is MKA/WebM, ``asf`` is WMA."""

PROBE_ABOVE_BYTES = 8 << 20
"""Files larger than this have their duration read by ``ffprobe`` first, so an
over-long file is refused without decoding. Smaller files decode faster than a second
process starts; for them the ``-t`` cap alone bounds the work."""

SEEK_PREROLL_S = 1.0
"""With ``start_s``, ffmpeg seeks this many seconds earlier and decodes up to the start,
so that the first samples are exact for codecs that need a warm-up."""

LIMIT_SLACK_S = 0.25
"""Decoded audio may exceed ``max_duration_s`` by this much (codec padding) before
``audio_too_long``."""

_BACKENDS = ("ffmpeg", "soundfile")


def _program(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise AudioError(
            f"the {name} program is not installed (scripts/install-system-deps.sh)",
            code="decoder_missing",
        )
    return exe


def _ffmpeg_input(path: Path) -> list[str]:
    """Input options and the input of ffmpeg/ffprobe: local files, audio demuxers only.

    ``file:`` keeps a name such as ``concat:x`` or ``http:x`` from being read as a
    protocol, and a name starting with ``-`` from being read as an option.
    """
    return [
        "-protocol_whitelist", "file", "-format_whitelist", DEMUXERS,
        "-i", "file:" + str(path.resolve()),
    ]  # fmt: skip


def _check_file(path: Path, max_bytes: int) -> int:
    """Size in bytes of a readable, non-empty file within ``max_bytes``; else AudioError."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise AudioError(f"no such file: {path}", code="audio_not_found") from None
    except NotADirectoryError:
        raise AudioError(f"no such file: {path}", code="audio_not_found") from None
    except OSError as exc:
        raise AudioError(f"cannot read {path}: {exc.strerror}", code="audio_unreadable") from None
    if path.is_dir():
        raise AudioError(f"{path} is a directory, not a file", code="audio_unreadable")
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


def _ffprobe(path: str | os.PathLike, entries: str, *, timeout_s: float) -> str | None:
    """The first line ``ffprobe -show_entries ENTRIES`` prints for a local audio file
    (the same input restrictions as the decoder: :func:`_ffmpeg_input`), or None."""
    exe = shutil.which("ffprobe")
    if exe is None:
        return None
    cmd = [exe, "-v", "error", *_ffmpeg_input(Path(path)),
           "-select_streams", "a:0", "-show_entries", entries, "-of", "csv=p=0"]  # fmt: skip
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL
        )
        return out.stdout.strip().splitlines()[0]
    except (subprocess.TimeoutExpired, IndexError, OSError):
        return None


def probe_duration(path: str | os.PathLike, *, timeout_s: float = 30.0) -> float | None:
    """Duration from the container, read by ``ffprobe`` without decoding.

    Parameters
    ----------
    path : path-like
    timeout_s : float
        Wall-clock limit of the ffprobe process, seconds.

    Returns
    -------
    float or None
        Seconds; None when unknown (no ffprobe, not a media file, no duration in the
        header, timeout). For some files (MP3 without a VBR header) it is an estimate.
    """
    try:
        value = float(_ffprobe(path, "format=duration", timeout_s=timeout_s) or "")
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def probe_sample_rate(
    path: str | os.PathLike, *, backend: str = "ffmpeg", timeout_s: float = 30.0
) -> int | None:
    """The sample rate stored in a file's first audio stream, Hz, without decoding.

    Parameters
    ----------
    path : path-like
    backend : str
        ``"soundfile"``: the header is read in process by libsndfile when it can, else
        by ffprobe; ``"ffmpeg"`` (untrusted uploads): only by the ffprobe subprocess.
    timeout_s : float
        Wall-clock limit of the ffprobe process, seconds.

    Returns
    -------
    int or None
        None when unknown.
    """
    if backend == "soundfile" and _looks_like_sndfile_format(Path(path)):
        try:
            import soundfile as sf

            return int(sf.info(str(path)).samplerate)
        except Exception:  # libsndfile refuses it: ask ffprobe
            pass
    try:
        rate = int(_ffprobe(path, "stream=sample_rate", timeout_s=timeout_s) or "")
    except ValueError:
        return None
    return rate if rate > 0 else None


def decode(
    path: str | os.PathLike,
    *,
    sample_rate: int = 11025,
    max_duration_s: float = 1800.0,
    max_bytes: int = 1_000_000_000,
    start_s: float = 0.0,
    duration_s: float | None = None,
    timeout_s: float = 300.0,
    backend: str = "ffmpeg",
) -> AudioClip:
    """Decode the first audio stream of a file to mono float32 at ``sample_rate``.

    Runs ``ffmpeg -i PATH -map 0:a:0 -ac 1 -ar SR -f f32le -`` in a subprocess and reads
    its output. Channels are averaged (stereo: ``(L + R) / 2``; surround: ffmpeg's
    standard downmix, normalised so that it cannot exceed full scale; LFE is dropped).

    Parameters
    ----------
    path : path-like
        An audio file (WAV, FLAC, MP3, OGG/Vorbis, Opus, AAC/M4A, ...; see
        :data:`DEMUXERS`). The container decides, not the file name's extension.
    sample_rate : int
        Output rate, Hz (ffmpeg's resampler).
    max_duration_s : float
        More than this many seconds of audio (plus :data:`LIMIT_SLACK_S`) is refused
        with ``audio_too_long``; at most ``max_duration_s + 1`` seconds are decoded.
        Only the decoded part counts: with ``duration_s <= max_duration_s`` a longer
        file can be read in parts.
    max_bytes : int
        Larger files are refused before decoding (``audio_too_large``).
    start_s : float
        Start of the decoded part, seconds from the beginning of the file. ffmpeg seeks
        to :data:`SEEK_PREROLL_S` before it and decodes from there, so the first
        samples are those of a full decode: sample-exact for WAV, FLAC, MP3 and Opus;
        Ogg Vorbis positions follow packet timestamps and can be off by about 10 ms.
    duration_s : float or None
        Length of the decoded part, seconds: ``round(duration_s * sample_rate)``
        samples when the file holds that much. None: to the end of the file.
    timeout_s : float
        Wall-clock limit of the decoder process, seconds (``audio_timeout``).
    backend : {"ffmpeg", "soundfile"}
        ``"soundfile"`` decodes in process with libsndfile (no timeout, no process
        isolation; for trusted files) and resamples with soxr, using ffmpeg only for
        what libsndfile cannot read. Its samples differ slightly from ffmpeg's
        (resampler, MP3 decoder).

    Returns
    -------
    AudioClip
        ``samples`` of shape (n,), float32, at ``sample_rate`` Hz, NaN and infinities
        replaced by 0; ``source`` is the path.

    Raises
    ------
    AudioError
        With the codes listed in :class:`fingerprints.errors.AudioError`. A truncated
        or partly corrupt file decodes to the audio that can be recovered (ffmpeg's
        error is ignored when samples came out); ``audio_decode_failed`` means not a
        single sample could be decoded (the message ends with ffmpeg's last error
        lines), which includes ``start_s`` past the end of the audio.
    ValueError
        Invalid arguments (non-positive rate or limits, negative start).
    """
    if sample_rate <= 0 or max_duration_s <= 0 or max_bytes <= 0 or timeout_s <= 0:
        raise ValueError("sample_rate, max_duration_s, max_bytes and timeout_s must be > 0")
    if start_s < 0 or (duration_s is not None and duration_s <= 0):
        raise ValueError("start_s must be >= 0 and duration_s > 0")
    if backend not in _BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; one of {_BACKENDS}")
    sample_rate = int(sample_rate)
    p = Path(path)
    size = _check_file(p, max_bytes)
    wanted = math.inf if duration_s is None else duration_s
    samples = None
    if backend == "soundfile":
        samples = _decode_soundfile(
            p, sample_rate=sample_rate, start_s=start_s, wanted_s=wanted,
            max_duration_s=max_duration_s,
        )  # fmt: skip
    if samples is None:
        samples = _decode_ffmpeg(
            p, size, sample_rate=sample_rate, start_s=start_s, wanted_s=wanted,
            max_duration_s=max_duration_s, timeout_s=timeout_s,
        )  # fmt: skip
    if duration_s is not None:
        samples = samples[: round(duration_s * sample_rate)]
    if samples.size > (max_duration_s + LIMIT_SLACK_S) * sample_rate:
        raise AudioError(
            f"{p} lasts more than the limit of {max_duration_s:g} s", code="audio_too_long"
        )
    if not np.all(np.isfinite(samples)):
        samples = np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
    return AudioClip(samples, sample_rate, str(p))


def _too_long(p: Path, seconds: float, limit: float) -> AudioError:
    return AudioError(
        f"{p} lasts {seconds:.1f} s, over the limit of {limit:g} s", code="audio_too_long"
    )


def _decode_ffmpeg(
    p: Path,
    size: int,
    *,
    sample_rate: int,
    start_s: float,
    wanted_s: float,
    max_duration_s: float,
    timeout_s: float,
) -> np.ndarray:
    """Mono float32 at ``sample_rate`` from the ffmpeg program; AudioError when none."""
    exe = _program("ffmpeg")
    if wanted_s > max_duration_s and size > PROBE_ABOVE_BYTES:
        known = probe_duration(p, timeout_s=min(30.0, timeout_s))
        # the container's duration can be an estimate: refuse early only when clearly over
        if known is not None and known - start_s > 1.05 * max_duration_s + 1.0:
            raise _too_long(p, known, max_duration_s)
    # a little more than wanted: the caller cuts the exact length (ffmpeg's -t follows
    # packet timestamps, which are a few ms off for some codecs)
    limit_s = min(wanted_s + 0.1, max_duration_s + 1.0)
    # Seek the input to SEEK_PREROLL_S before the start (fast), then decode and drop the
    # rest (exact): seeking the input straight to the start leaves the first frames of
    # MP3/AAC/Opus without their decoder warm-up (tens of ms of wrong samples).
    seek_s = max(0.0, start_s - SEEK_PREROLL_S)
    cmd = [exe, "-nostdin", "-hide_banner", "-v", "error"]
    if seek_s > 0:
        cmd += ["-ss", f"{seek_s:.6f}"]
    cmd += [*_ffmpeg_input(p), "-map", "0:a:0", "-vn", "-sn", "-dn"]
    if start_s > seek_s:
        cmd += ["-ss", f"{start_s - seek_s:.6f}"]
    cmd += ["-t", f"{limit_s:.6f}", "-rematrix_maxval", "1.0", "-ac", "1",
            "-ar", str(sample_rate), "-f", "f32le", "-"]  # fmt: skip
    try:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except OSError as exc:
        raise AudioError(f"cannot run ffmpeg: {exc}", code="decoder_missing") from None
    with proc:  # always reaped; killed below on a deadline or any exception
        try:
            _limit_child(proc.pid, cpu_s=timeout_s)
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise AudioError(
                f"decoding {p} took longer than {timeout_s:g} s", code="audio_timeout"
            ) from None
        except BaseException:
            proc.kill()
            raise
    if proc.returncode < 0:  # killed by a signal: its CPU or memory limit, or ours
        raise AudioError(
            f"{p}: the decoder was stopped (signal {-proc.returncode}: over its CPU or "
            f"memory limit)", code="audio_decode_failed",
        )  # fmt: skip
    n = len(out) // 4
    if n == 0:
        why = _last_lines(err) or f"ffmpeg exit code {proc.returncode}"
        where = f" after {start_s:g} s" if start_s > 0 else ""
        raise AudioError(
            f"{p}: no audio could be decoded{where} ({why})", code="audio_decode_failed"
        )
    return np.frombuffer(out, dtype="<f4", count=n).astype(np.float32)


DECODER_MEMORY_BYTES = 2 << 30
"""Address-space limit of an ffmpeg decoder process (a decompression bomb or a leak
ends there, not in the caller)."""


def _limit_child(pid: int, *, cpu_s: float) -> None:
    """Limit a decoder child's address space and CPU time (Linux ``prlimit``; set right
    after the start, since ``preexec_fn`` is unsafe in a threaded caller; elsewhere the
    deadline of the caller alone applies)."""
    import resource

    if not hasattr(resource, "prlimit"):
        return
    cpu = max(1, math.ceil(cpu_s)) + 1
    try:
        resource.prlimit(pid, resource.RLIMIT_AS, (DECODER_MEMORY_BYTES, DECODER_MEMORY_BYTES))
        resource.prlimit(pid, resource.RLIMIT_CPU, (cpu, cpu))
    except (ProcessLookupError, PermissionError, OSError):
        pass  # already gone (the deadline still applies)


def _last_lines(stderr: bytes, n: int = 2) -> str:
    """ffmpeg's last ``n`` error lines, without object addresses, for a message."""
    lines = []
    for line in stderr.decode("utf-8", "replace").splitlines():
        line = re.sub(r" @ 0x[0-9a-f]+\]", "]", line.strip())
        line = re.sub(r"Format not on whitelist '[^']*'", "not an accepted audio format", line)
        if line:
            lines.append(line[:200])
    return "; ".join(lines[-n:])


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


def _decode_soundfile(
    p: Path, *, sample_rate: int, start_s: float, wanted_s: float, max_duration_s: float
) -> np.ndarray | None:
    """Mono float32 at ``sample_rate`` through libsndfile, or None to let ffmpeg try."""
    import soundfile as sf

    if not _looks_like_sndfile_format(p):
        return None
    try:
        info = sf.info(str(p))
        native = int(info.samplerate)
        if native <= 0 or info.frames <= 0:
            return None
        total_s = info.frames / native
        if wanted_s > max_duration_s and total_s - start_s > max_duration_s + 1.0:
            raise _too_long(p, total_s, max_duration_s)
        start = round(start_s * native)
        if start >= info.frames:
            return None  # let ffmpeg give the usual error
        span_s = min(wanted_s, max_duration_s + 1.0)
        stop = min(info.frames, start + round(span_s * native))
        data, _sr = sf.read(str(p), start=start, stop=stop, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except Exception:  # libsndfile cannot read it, or fails mid-way: ffmpeg decides
        return None
    if data.shape[0] == 0:
        return None
    # The downmix is the float32 mean of the channels; written out for one and two
    # channels, where np.mean over a short strided axis costs as much as the resampling.
    # The values are the same: x / 1 is x, and the mean of two is fl(fl(l + r) / 2).
    if data.shape[1] == 1:
        mono = np.ascontiguousarray(data[:, 0])
    elif data.shape[1] == 2:
        mono = data[:, 0] + data[:, 1]
        mono /= np.float32(2.0)
    else:
        mono = data.mean(axis=1, dtype=np.float32)
    if not np.all(np.isfinite(mono)):
        mono = np.nan_to_num(mono, nan=0.0, posinf=0.0, neginf=0.0)
    if native != sample_rate:
        import soxr

        mono = soxr.resample(mono, native, sample_rate, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


def resample(clip: AudioClip, sample_rate: int) -> AudioClip:
    """Change the sample rate (soxr, high quality); the duration is kept.

    Parameters
    ----------
    clip : AudioClip
    sample_rate : int
        New rate, Hz.

    Returns
    -------
    AudioClip
        ``round(n * sample_rate / clip.sample_rate)`` samples, float32; ``clip`` itself
        when the rate is unchanged.
    """
    if sample_rate <= 0:
        raise ValueError("sample_rate must be > 0")
    if clip.sample_rate == sample_rate:
        return clip
    import soxr

    x = np.asarray(clip.samples, dtype=np.float32)
    y = soxr.resample(x, clip.sample_rate, sample_rate, quality="HQ") if x.size else x
    return AudioClip(np.ascontiguousarray(y, dtype=np.float32), int(sample_rate), clip.source)


def content_hash(path: str | os.PathLike) -> str:
    """Hash of a file's bytes, read in 1 MiB chunks.

    Returns
    -------
    str
        ``"sha256:"`` followed by 64 lowercase hex digits.
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def _pcm16(samples: np.ndarray) -> tuple[bytes, int]:
    """Interleaved little-endian int16 bytes and the channel count of (n,) or (n, ch)."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim not in (1, 2):
        raise ValueError(f"samples must have shape (n,) or (n, channels), not {x.shape}")
    channels = 1 if x.ndim == 1 else x.shape[1]
    x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)
    pcm = np.rint(np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2")
    return pcm.tobytes(), channels


def write_wav(path: str | os.PathLike, samples: np.ndarray, sample_rate: int) -> None:
    """Write 16-bit PCM WAV (stdlib ``wave``).

    Parameters
    ----------
    path : path-like
    samples : ndarray, shape (n,) or (n, channels)
        Float samples; clipped to [-1, 1] and scaled by 32767 (NaN written as 0).
    sample_rate : int
        Hz.
    """
    data, channels = _pcm16(samples)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(data)


_CODECS = {
    "mp3": ["-c:a", "libmp3lame", "-f", "mp3"],
    "ogg": ["-c:a", "libvorbis", "-f", "ogg"],
    "vorbis": ["-c:a", "libvorbis", "-f", "ogg"],
    "opus": ["-c:a", "libopus", "-f", "ogg"],
    "aac": ["-c:a", "aac", "-f", "ipod"],
    "m4a": ["-c:a", "aac", "-f", "ipod"],
    "flac": ["-c:a", "flac", "-f", "flac"],
    "wav": ["-c:a", "pcm_s16le", "-f", "wav"],
}


def encode(
    samples: np.ndarray,
    sample_rate: int,
    out_path: str | os.PathLike,
    *,
    codec: str = "mp3",
    bitrate: str = "64k",
    timeout_s: float = 300.0,
) -> None:
    """Encode float samples with the ffmpeg program (for demos and tests).

    Parameters
    ----------
    samples : ndarray, shape (n,) or (n, channels)
        Float samples, clipped to [-1, 1].
    sample_rate : int
        Hz of ``samples``.
    out_path : path-like
        Written whatever its extension; the container follows ``codec``.
    codec : {"mp3", "ogg", "vorbis", "opus", "aac", "m4a", "flac", "wav"}
        ``"aac"`` and ``"m4a"`` both write AAC in an M4A (MP4) container; ``"ogg"`` is
        Vorbis; Opus goes in Ogg and is encoded at 48 kHz, its only native rate.
    bitrate : str
        ffmpeg bitrate such as ``"64k"``; ignored for FLAC and WAV. Vorbis uses quality
        mode (``-q:a 4``, about 128 kbit/s) because libvorbis refuses many
        bitrate/sample-rate pairs.
    timeout_s : float
        Wall-clock limit of the ffmpeg process, seconds.

    Raises
    ------
    ValueError
        Unknown codec or bad sample shape.
    RuntimeError
        ffmpeg failed (its last error lines are in the message).
    """
    if codec not in _CODECS:
        raise ValueError(f"unknown codec {codec!r}; one of {sorted(_CODECS)}")
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim not in (1, 2):
        raise ValueError(f"samples must have shape (n,) or (n, channels), not {x.shape}")
    channels = 1 if x.ndim == 1 else x.shape[1]
    pcm = np.clip(np.nan_to_num(x), -1.0, 1.0).astype("<f4").tobytes()
    cmd = [_program("ffmpeg"), "-nostdin", "-hide_banner", "-v", "error", "-y",
           "-f", "f32le", "-ar", str(int(sample_rate)), "-ac", str(channels), "-i", "pipe:0",
           *_CODECS[codec]]  # fmt: skip
    if codec in ("ogg", "vorbis"):
        cmd += ["-q:a", "4"]
    elif codec not in ("flac", "wav"):
        cmd += ["-b:a", bitrate]
    if codec == "opus":
        cmd += ["-ar", "48000"]
    cmd.append("file:" + str(Path(out_path).resolve()))
    proc = subprocess.run(cmd, input=pcm, capture_output=True, timeout=timeout_s)
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip()[-300:]
        raise RuntimeError(f"ffmpeg could not encode {codec}: {tail}")
